"""An OpenAI-compatible emulator (Assistants and Responses subsets) with a scripted recipe model and fault knobs."""
