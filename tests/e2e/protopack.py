"""Pack proto3 JSON (as commissionctl reads it) into protobuf bytes, for tests
that talk to the ingest socket directly with many senders at once.

The schema is read from proto/commissioning.proto itself (messages, enums,
oneofs, repeated fields), so any Envelope that tools/sample-day or
tests/data/*.jsonl hold can be packed without a protobuf library. Only what
that file uses is handled: scalar fields, enums, nested messages, repeated
fields (not packed), oneofs (a member is written even at its zero value,
as proto3 presence requires)."""
import base64
import os
import re
import struct

from harness import _varint

PROTO = os.path.join(os.path.dirname(__file__), "..", "..", "proto", "commissioning.proto")

VARINT_TYPES = {"int64", "uint64", "int32", "uint32", "bool"}


def _camel(name):
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class Schema:
    def __init__(self, path=PROTO):
        with open(path) as f:
            text = re.sub(r"//[^\n]*", "", f.read())
        self.enums = {}
        self.messages = {}
        for name, body in re.findall(r"enum\s+(\w+)\s*\{([^}]*)\}", text):
            self.enums[name] = {k: int(v) for k, v in re.findall(r"(\w+)\s*=\s*(-?\d+)\s*;", body)}
        for name, body in self._blocks(text, "message"):
            fields = {}
            for oneof, members in re.findall(r"oneof\s+(\w+)\s*\{([^}]*)\}", body):
                for ftype, fname, number in re.findall(r"(\w+)\s+(\w+)\s*=\s*(\d+)\s*;", members):
                    fields[fname] = (int(number), ftype, False, True)
            body = re.sub(r"oneof\s+\w+\s*\{[^}]*\}", "", body)
            body = re.sub(r"reserved[^;]*;", "", body)
            for rep, ftype, fname, number in re.findall(
                    r"(repeated\s+)?(\w+)\s+(\w+)\s*=\s*(\d+)\s*;", body):
                fields[fname] = (int(number), ftype, bool(rep), False)
            by_json = {}
            for fname, spec in fields.items():
                by_json[fname] = (fname, spec)
                by_json[_camel(fname)] = (fname, spec)
            self.messages[name] = by_json

    @staticmethod
    def _blocks(text, keyword):
        """Top-level `keyword Name { ... }` blocks, braces balanced."""
        for m in re.finditer(keyword + r"\s+(\w+)\s*\{", text):
            depth, i = 1, m.end()
            while depth:
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
            yield m.group(1), text[m.end():i - 1]

    def pack(self, message, value):
        """Bytes of message type `message` from its proto3 JSON dict."""
        fields = self.messages[message]
        out = bytearray()
        items = []
        for key, v in value.items():
            if key not in fields:
                raise ValueError(f"{message} has no field {key}")
            fname, (number, ftype, repeated, in_oneof) = fields[key]
            items.append((number, ftype, repeated, in_oneof, v))
        for number, ftype, repeated, in_oneof, v in sorted(items, key=lambda t: t[0]):
            for one in (v if repeated else [v]):
                out += self._field(number, ftype, one, always=in_oneof or repeated)
        return bytes(out)

    def _field(self, number, ftype, v, always):
        if ftype in self.messages:
            body = self.pack(ftype, v)
            return _key(number, 2) + _varint(len(body)) + body
        if ftype in self.enums:
            n = self.enums[ftype][v] if isinstance(v, str) else int(v)
            return _key(number, 0) + _varint(n) if (n or always) else b""
        if ftype in VARINT_TYPES:
            n = int(v) if not isinstance(v, bool) else int(v)
            if ftype == "bool" and isinstance(v, str):
                n = 1 if v == "true" else 0
            return _key(number, 0) + _varint(n & (2 ** 64 - 1)) if (n or always) else b""
        if ftype == "double":
            x = float(v)
            return _key(number, 1) + struct.pack("<d", x) if (x or always) else b""
        if ftype == "string":
            data = v.encode()
        elif ftype == "bytes":
            s = v.replace("-", "+").replace("_", "/")
            data = base64.b64decode(s + "=" * (-len(s) % 4))
        else:
            raise ValueError(f"type {ftype} is not handled")
        return _key(number, 2) + _varint(len(data)) + data if (data or always) else b""


def _key(number, wire):
    return _varint(number << 3 | wire)


_schema = None


def pack_envelope(event):
    """A packed Envelope from its proto3 JSON dict."""
    global _schema
    if _schema is None:
        _schema = Schema()
    return _schema.pack("Envelope", event)
