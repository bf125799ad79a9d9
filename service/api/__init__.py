"""The HTTP layer: thin routes over the loss core, schemas generated from the registry."""
