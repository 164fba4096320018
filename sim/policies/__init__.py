"""Policy families. Each family's discriminated union (on ``kind``) is its registry;
a policy is a frozen pydantic model with one pure decision method."""
