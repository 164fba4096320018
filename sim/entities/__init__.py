"""SimPy entities: links (fluid sharing), compute servers, device groups."""
