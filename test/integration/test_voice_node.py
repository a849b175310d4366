"""The voice node over real rclpy/DDS with real pocketsphinx and espeak-ng: PCM chunks on voice/audio become text on
assistant/text; text on assistant/reply becomes a WAV on voice/tts_audio and in a file; bad chunks are counted."""
import json
import shutil
import subprocess
import threading
import time
import wave

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
pytest.importorskip('pocketsphinx')
if shutil.which('espeak-ng') is None:
    pytest.skip('espeak-ng is not installed', allow_module_level=True)

from rclpy.context import Context  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import Int16MultiArray, String, UInt8MultiArray  # noqa: E402

from qwen_vehicle.backends.voice.audio import read_wav, resample  # noqa: E402
from qwen_vehicle.nodes import qos  # noqa: E402
from qwen_vehicle.nodes.voice import VoiceNode  # noqa: E402


def speech(text, rate, voice='en-us', seed=0):
    wav = subprocess.run(['espeak-ng', '-v', voice, '-s', '160', '--stdout', text], capture_output=True,
                         check=True).stdout
    pcm, src_rate = read_wav(wav)
    pad = np.zeros(src_rate // 2)
    x = np.concatenate([pad, pcm.astype(float), pad])
    x += np.random.default_rng(seed).normal(0, 40, x.size)
    return resample(np.clip(x, -32768, 32767).astype(np.int16), src_rate, rate)


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.02)
    return condition()


class Harness:
    def __init__(self, tmp_path, **params):
        self.context = Context()
        rclpy.init(context=self.context)
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        self.voice = VoiceNode(context=self.context, parameter_overrides=overrides)
        self.peer = Node('voice_peer', context=self.context)
        self.texts, self.audio, self.events = [], [], []
        self.peer.create_subscription(String, 'assistant/text', lambda m: self.texts.append(m.data), qos.COMMANDS)
        self.peer.create_subscription(UInt8MultiArray, 'voice/tts_audio', lambda m: self.audio.append(bytes(m.data)),
                                      qos.EVENTS)
        self.peer.create_subscription(String, 'voice/events', lambda m: self.events.append(json.loads(m.data)),
                                      qos.EVENTS)
        encoding = params.get('audio_encoding', 'int16')
        self.chunk_type = Int16MultiArray if encoding == 'int16' else UInt8MultiArray
        self.chunk_pub = self.peer.create_publisher(self.chunk_type, 'voice/audio', qos.sensor_stream(1000))
        self.reply_pub = self.peer.create_publisher(String, 'assistant/reply', qos.EVENTS)
        self.executor = MultiThreadedExecutor(num_threads=3, context=self.context)
        self.executor.add_node(self.voice)
        self.executor.add_node(self.peer)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        assert wait_for(lambda: self.chunk_pub.get_subscription_count() > 0 and
                        self.reply_pub.get_subscription_count() > 0)

    def send_pcm(self, pcm, chunk=1600):
        for start in range(0, pcm.size, chunk):
            part = pcm[start:start + chunk]
            if self.chunk_type is Int16MultiArray:
                self.chunk_pub.publish(Int16MultiArray(data=part.tolist()))
            else:
                self.chunk_pub.publish(UInt8MultiArray(data=part.astype('<i2').tobytes()))
        self.chunk_pub.publish(self.chunk_type())   # empty chunk: end of the utterance

    def close(self):
        self.executor.shutdown()
        self.thread.join(timeout=5)
        self.voice.close()
        self.voice.destroy_node()
        self.peer.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.fixture
def harness(tmp_path):
    made = []

    def make(**params):
        h = Harness(tmp_path, **params)
        made.append(h)
        return h
    yield make
    for h in made:
        h.close()


def test_int16_chunks_become_assistant_text_and_reply_becomes_speech(harness, tmp_path):
    wav_path = str(tmp_path / 'reply.wav')
    h = harness(sample_rate=22050, tts_output='topic,wav', tts_wav_path=wav_path)
    h.send_pcm(speech('set the fan to four', 22050))
    assert wait_for(lambda: h.texts, timeout=20), h.events
    assert h.texts == ['set the fan to 4']
    rec = [e for e in h.events if e['type'] == 'recognition']
    assert rec and rec[0]['source'] == 'grammar' and rec[0]['audio_s'] > 0.5

    h.reply_pub.publish(String(data='Fan set to 4.'))
    assert wait_for(lambda: h.audio, timeout=20)
    pcm, rate = read_wav(h.audio[0])
    assert rate == 22050 and pcm.size > rate // 2
    assert wait_for(lambda: any(e['type'] == 'spoken' for e in h.events))
    with wave.open(wav_path) as w:
        assert w.getnframes() == pcm.size

    h.reply_pub.publish(String(data='风量已调到四档。'))      # Mandarin voice
    assert wait_for(lambda: len(h.audio) == 2, timeout=20)
    spoken = [e for e in h.events if e['type'] == 'spoken']
    assert wait_for(lambda: len([e for e in h.events if e['type'] == 'spoken']) == 2)
    spoken = [e for e in h.events if e['type'] == 'spoken']
    assert [e['voice'] for e in spoken] == ['en-us', 'cmn']


def test_byte_chunks_malformed_input_and_parameter_validation(harness):
    h = harness(audio_encoding='bytes', sample_rate=16000, tts_output='none')
    h.chunk_pub.publish(UInt8MultiArray(data=b'\x01\x02\x03'))   # odd byte count: not 16-bit PCM
    assert wait_for(lambda: h.voice.counters['malformed_chunks'] == 1)
    h.send_pcm(speech('turn on the air conditioning', 16000, voice='en-gb'))
    assert wait_for(lambda: h.texts, timeout=20), h.events
    assert h.texts == ['turn on the air conditioning']

    result = h.voice.set_parameters([Parameter('tts_output', value='speaker')])[0]
    assert not result.successful and 'unknown' in result.reason
    assert h.voice.set_parameters([Parameter('tts_speed', value=200)])[0].successful
    assert h.voice.tts.speed == 200


def test_wav_input_is_recognised_at_start_up(harness, tmp_path):
    from qwen_vehicle.backends.voice.audio import wav_bytes
    path = tmp_path / 'command.wav'
    path.write_bytes(wav_bytes(speech('what is the battery status', 16000), 16000))
    h = harness(wav_input=str(path), tts_output='none')
    assert wait_for(lambda: h.texts, timeout=20), h.events
    assert h.texts == ['what is the battery status']
