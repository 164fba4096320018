"""Real PyTorch measurements that write trace files.  The only part of ``sim`` that imports torch."""
