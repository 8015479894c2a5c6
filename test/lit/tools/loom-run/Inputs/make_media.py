"""Writes the media files that loom-run's error tests feed it, into the folder argv[1]."""
import struct
import sys
import wave
import zlib


def png(path, width, height, damage_at=None):
    raw = b"".join(b"\x00" + b"\x80" * (3 * width) for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    data = bytearray(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    if damage_at is not None:
        data[damage_at] ^= 0xFF
    with open(path, "wb") as f:
        f.write(data)


def wav(path, rate, seconds=0.1):
    w = wave.open(path, "wb")
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(rate)
    w.writeframes(b"\x00\x00" * int(rate * seconds))
    w.close()


out = sys.argv[1]
png(out + "/odd.png", 50, 48)  # valid, but 50 is not a multiple of 48
png(out + "/ok.png", 48, 48)  # valid: one 48 px cell
png(out + "/chunk.png", 48, 48, damage_at=40)  # the IDAT chunk's type byte is damaged
wav(out + "/a44k.wav", 44100)  # valid, but not 16 kHz
