"""Voice in and out: grammar-driven offline speech recognition, speech synthesis, audio sources.

    from qwen_vehicle.backends.voice import create_recognizer, create_synthesizer
    asr = create_recognizer('pocketsphinx')             # grammar from the intent engine's phrases + tool schemas
    text = asr.recognize(pcm, sample_rate=16000).text   # -> 'set the driver side to 22'
    create_synthesizer('espeak-ng').synthesize('Done.').save('/tmp/reply.wav')

Registries like python-can's: built-in names plus the entry point groups ``qwen_vehicle.asr`` and ``qwen_vehicle.tts``.
Importing this package imports neither pocketsphinx nor the intent engine. See docs/voice.md.
"""
from .asr import (ENTRY_POINT_GROUP as ASR_ENTRY_POINT_GROUP, Recognition, Recognizer, available_recognizers,
                  create_recognizer, recognizer_class)
from .tts import (ENTRY_POINT_GROUP as TTS_ENTRY_POINT_GROUP, Speech, SynthesisError, Synthesizer,
                  available_synthesizers, create_synthesizer, synthesizer_class)

__all__ = ['ASR_ENTRY_POINT_GROUP', 'TTS_ENTRY_POINT_GROUP', 'Recognition', 'Recognizer', 'Speech', 'SynthesisError',
           'Synthesizer', 'available_recognizers', 'available_synthesizers', 'create_recognizer',
           'create_synthesizer', 'recognizer_class', 'synthesizer_class']
