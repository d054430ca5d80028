"""AI providers of the voice core: speech-to-text, language models, text-to-speech.

`base` defines the interfaces, one module per wire protocol implements them, and `registry`
builds the configured set (offline PocketSphinx + eSpeak NG when nothing else is configured).
"""
