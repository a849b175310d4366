"""qwen_vehicle: an LLM assistant connected to the vehicle's buses."""
__version__ = '0.1.0'
