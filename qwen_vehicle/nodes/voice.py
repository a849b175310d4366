"""voice node: speech in -> `assistant/text`, `assistant/reply` -> speech out.

Audio in: PCM chunks on `voice/audio` (std_msgs/Int16MultiArray, or std_msgs/UInt8MultiArray carrying little-endian
16-bit samples; rate = parameter `sample_rate`; an empty message ends the utterance), a WAV file (`wav_input`), or
the microphone (`microphone: true`, through `arecord`, where one exists). Utterances are cut by voice activity and
recognised in their own callback group, so synthesis and the rest of the executor never wait on the recogniser.

Out: recognised text on `assistant/text` (std_msgs/String), a JSON record per utterance on `voice/events`
(text, source grammar|lm, confidence, real-time factor), and each reply spoken with espeak-ng to `tts_wav_path`,
to `voice/tts_audio` (std_msgs/UInt8MultiArray, a complete WAV file) and/or an audio device (`tts_output`).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import numpy as np
import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rcl_interfaces.msg import SetParametersResult
from std_msgs.msg import Int16MultiArray, String, UInt8MultiArray

from . import qos
from ..backends.voice.asr import MIN_CONFIDENCE
from .params import declare_typed

TTS_OUTPUTS = {'wav', 'topic', 'device', 'none'}


@dataclass
class VoiceConfig:
    recognizer: str = 'pocketsphinx'
    wake_phrase: str = ''
    fallback_lm: bool = True
    min_confidence: float = MIN_CONFIDENCE
    sample_rate: int = 16000
    audio_topic: str = 'voice/audio'
    audio_encoding: str = 'int16'          # int16 (Int16MultiArray) or bytes (UInt8MultiArray, s16le)
    wav_input: str = ''
    microphone: bool = False
    microphone_device: str = 'default'
    synthesizer: str = 'espeak-ng'
    tts_voice_en: str = 'en-us'
    tts_voice_zh: str = 'cmn'
    tts_speed: int = 160
    tts_output: str = 'topic'              # comma list of wav, topic, device; or none
    tts_wav_path: str = '/tmp/qwen_vehicle_reply.wav'

    def outputs(self) -> set[str]:
        return {o.strip() for o in self.tts_output.split(',') if o.strip()}

    def validate(self) -> None:
        if self.audio_encoding not in ('int16', 'bytes'):
            raise ValueError("audio_encoding must be 'int16' or 'bytes'")
        if not 4000 <= self.sample_rate <= 192000:
            raise ValueError('sample_rate must be 4000..192000 Hz')
        if not 80 <= self.tts_speed <= 450:
            raise ValueError('tts_speed must be 80..450 words per minute')
        bad = self.outputs() - TTS_OUTPUTS
        if bad:
            raise ValueError(f'tts_output: unknown {sorted(bad)}; use {sorted(TTS_OUTPUTS)}')
        if 'wav' in self.outputs() and not self.tts_wav_path:
            raise ValueError('tts_output includes wav but tts_wav_path is empty')


class VoiceNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__('voice', **kwargs)
        c = VoiceConfig()
        for name, desc in (
                ('recognizer', 'speech recogniser (registry name; entry point group qwen_vehicle.asr)'),
                ('wake_phrase', 'words that must come before a command; empty = always listening'),
                ('fallback_lm', 'decode with the general language model when the grammar finds nothing'),
                ('min_confidence', 'grammar results scoring lower per frame are treated as speech outside the '
                                   'grammar (-inf: accept every complete grammar path)'),
                ('audio_topic', 'topic of PCM chunks'),
                ('audio_encoding', 'int16 = std_msgs/Int16MultiArray, bytes = UInt8MultiArray of s16le samples'),
                ('wav_input', 'WAV file to recognise at start-up; empty = none'),
                ('microphone', 'capture from the microphone with arecord (where one exists)'),
                ('microphone_device', 'ALSA capture device'),
                ('synthesizer', 'speech synthesizer (registry name; entry point group qwen_vehicle.tts)'),
                ('tts_voice_en', 'espeak-ng voice for English replies'),
                ('tts_voice_zh', 'espeak-ng voice for Chinese replies'),
                ('tts_wav_path', 'where tts_output=wav writes the last reply')):
            setattr(c, name, declare_typed(self, name, getattr(c, name), desc, read_only=True))
        c.sample_rate = declare_typed(self, 'sample_rate', c.sample_rate, 'sample rate of the PCM chunks (Hz)',
                                      int_range=(4000, 192000), read_only=True)
        c.tts_speed = declare_typed(self, 'tts_speed', c.tts_speed, 'speaking rate, words per minute',
                                    int_range=(80, 450))
        c.tts_output = declare_typed(self, 'tts_output', c.tts_output, 'comma list of wav, topic, device; or none')
        c.validate()
        self.config = c
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.counters = {'chunks': 0, 'malformed_chunks': 0, 'utterances': 0, 'recognised': 0, 'asr_errors': 0,
                         'replies': 0, 'tts_errors': 0}
        self._lock = threading.Lock()   # the segmenter and recogniser are fed by the executor and the microphone

        from ..backends.voice.asr import create_recognizer
        from ..backends.voice.audio import ChunkSource
        from ..backends.voice.tts import create_synthesizer
        self.asr = create_recognizer(c.recognizer, wake_phrase=c.wake_phrase, fallback_lm=c.fallback_lm,
                                     min_confidence=c.min_confidence)
        self.segmenter = ChunkSource(c.sample_rate)
        self.tts = create_synthesizer(c.synthesizer, voice_en=c.tts_voice_en, voice_zh=c.tts_voice_zh,
                                      speed=c.tts_speed)

        self.text_pub = self.create_publisher(String, 'assistant/text', qos.COMMANDS)
        self.events_pub = self.create_publisher(String, 'voice/events', qos.EVENTS)
        self.audio_pub = self.create_publisher(UInt8MultiArray, 'voice/tts_audio', qos.EVENTS)
        self.asr_group = MutuallyExclusiveCallbackGroup()
        self.tts_group = MutuallyExclusiveCallbackGroup()
        msg_type = Int16MultiArray if c.audio_encoding == 'int16' else UInt8MultiArray
        self.create_subscription(msg_type, c.audio_topic, self._on_chunk, qos.sensor_stream(1000),
                                 callback_group=self.asr_group)
        self.create_subscription(String, 'assistant/reply', self._on_reply, qos.EVENTS, callback_group=self.tts_group)
        self._started = time.monotonic()
        self._wav_timer = self.create_timer(0.1, self._recognise_wav_input, callback_group=self.asr_group) \
            if c.wav_input else None
        self._mic = None
        self._mic_thread = None
        if c.microphone:
            self._start_microphone()
        self.get_logger().info(
            f'voice ready: recogniser {c.recognizer} ({len(getattr(self.asr, "grammar", []))} grammar phrases), '
            f'wake phrase {c.wake_phrase or "off"}, audio {c.audio_topic} ({c.audio_encoding}, {c.sample_rate} Hz), '
            f'tts {c.synthesizer} -> {c.tts_output}')

    # ---- parameters ---------------------------------------------------------------------------------------------
    def _on_set_parameters(self, params) -> SetParametersResult:
        trial = VoiceConfig(**vars(self.config))
        for p in params:
            if hasattr(trial, p.name):
                setattr(trial, p.name, p.value)
        try:
            trial.validate()
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.config = trial
        self.tts.speed = trial.tts_speed
        return SetParametersResult(successful=True)

    # ---- audio in -----------------------------------------------------------------------------------------------
    def _on_chunk(self, msg) -> None:
        self.counters['chunks'] += 1
        try:
            if isinstance(msg, Int16MultiArray):
                pcm = np.asarray(msg.data, dtype=np.int16)
            else:
                pcm = bytes(msg.data)
        except (TypeError, ValueError, OverflowError) as exc:
            self.counters['malformed_chunks'] += 1
            self.get_logger().warning(f'malformed audio chunk skipped: {exc}', throttle_duration_sec=5.0)
            return
        self.feed(pcm)

    def feed(self, pcm) -> None:
        """One chunk of PCM at `sample_rate`; an empty chunk ends the current utterance."""
        from ..backends.voice.audio import AudioFormatError
        with self._lock:
            try:
                empty = len(pcm) == 0
                utterances = self.segmenter.flush() if empty else self.segmenter.feed(pcm)
            except AudioFormatError as exc:
                self.counters['malformed_chunks'] += 1
                self.get_logger().warning(f'malformed audio chunk skipped: {exc}', throttle_duration_sec=5.0)
                return
            for utt in utterances:
                self.recognise(utt.pcm, 16000)

    def _recognise_wav_input(self) -> None:
        # wait (up to 5 s) for a subscriber: assistant/text is volatile and the file is read only once
        if self.text_pub.get_subscription_count() == 0 and time.monotonic() - self._started < 5.0:
            return
        self._wav_timer.cancel()
        from ..backends.voice.audio import AudioFormatError, WavFileSource
        try:
            utterances = list(WavFileSource(self.config.wav_input, whole=False).utterances())
        except (OSError, AudioFormatError) as exc:
            self.get_logger().error(f'wav_input {self.config.wav_input!r}: {exc}')
            return
        with self._lock:
            for utt in utterances:
                self.recognise(utt.pcm, 16000)

    def recognise(self, pcm, sample_rate: int) -> str:
        """Recognise one utterance; publish the text (if any) and an event. Never raises."""
        self.counters['utterances'] += 1
        try:
            result = self.asr.recognize(pcm, sample_rate)
        except Exception as exc:  # noqa: BLE001 - a recogniser failure must not stop the node
            self.counters['asr_errors'] += 1
            self.get_logger().error(f'recogniser failed: {exc!r}')
            self._event({'type': 'asr_error', 'error': str(exc)})
            return ''
        self._event({'type': 'recognition', 'text': result.text, 'words': result.words, 'source': result.source,
                     'confidence': None if result.confidence == float('-inf') else round(result.confidence, 3),
                     'woke': result.woke, 'audio_s': round(result.audio_s, 3), 'rtf': round(result.rtf, 4),
                     'language': result.language})
        if result.text:
            self.counters['recognised'] += 1
            self.text_pub.publish(String(data=result.text))
            self.get_logger().info(f'heard: {result.text!r} ({result.source}, {result.audio_s:.1f} s audio)')
        return result.text

    def _start_microphone(self) -> None:
        from ..backends.voice.audio import MicrophoneSource
        if not MicrophoneSource.available():
            self.get_logger().warning('microphone requested but arecord is not installed; use voice/audio instead')
            return
        self._mic = MicrophoneSource(self.config.microphone_device, self.config.sample_rate)

        def run() -> None:
            try:
                for chunk in self._mic.chunks():
                    self.feed(chunk)
            except Exception as exc:  # noqa: BLE001
                self.get_logger().error(f'microphone stopped: {exc!r}')

        self._mic_thread = threading.Thread(target=run, name='qv-voice-mic', daemon=True)
        self._mic_thread.start()

    # ---- speech out ---------------------------------------------------------------------------------------------
    def _on_reply(self, msg: String) -> None:
        self.speak(msg.data)

    def speak(self, text: str) -> bool:
        outputs = self.config.outputs() - {'none'}
        if not outputs or not text.strip():
            return False
        try:
            speech = self.tts.synthesize(text)
        except Exception as exc:  # noqa: BLE001 - a synthesizer failure must not stop the node
            self.counters['tts_errors'] += 1
            self.get_logger().error(f'speech synthesis failed: {exc}')
            return False
        self.counters['replies'] += 1
        if 'wav' in outputs:
            try:
                speech.save(self.config.tts_wav_path)
            except OSError as exc:
                self.counters['tts_errors'] += 1
                self.get_logger().error(f'cannot write {self.config.tts_wav_path}: {exc}')
        if 'topic' in outputs:
            self.audio_pub.publish(UInt8MultiArray(data=speech.wav()))
        if 'device' in outputs:
            self.tts.play(speech)
        self._event({'type': 'spoken', 'voice': speech.voice, 'seconds': round(speech.seconds, 2),
                     'outputs': sorted(outputs)})
        return True

    def _event(self, payload: dict) -> None:
        self.events_pub.publish(String(data=json.dumps(payload, ensure_ascii=False)))

    def close(self) -> None:
        """Stop capture and release the recogniser; idempotent."""
        mic, self._mic = self._mic, None
        if mic is not None:
            mic.close()
        if self._mic_thread is not None:
            self._mic_thread.join(timeout=2)
            self._mic_thread = None
        asr, self.asr = self.asr, None
        if asr is not None:
            asr.close()


def main(args=None) -> None:
    rclpy.init(args=args)
    node = None
    executor = MultiThreadedExecutor(num_threads=3)
    try:
        node = VoiceNode()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        if node is not None:
            node.close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == '__main__':
    main()
