"""The architecture: the machine engine's state, its steps and the hardware rules they follow."""
