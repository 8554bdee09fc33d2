"""CloudWatch as AWS's SDKs call it now, in front of moto.

Since 2025 CloudWatch speaks Smithy RPC v2 CBOR (`POST /service/GraniteServiceVersion20100801/
operation/PutMetricData`, a CBOR body, the header `smithy-protocol: rpc-v2-cbor`), and the Rust
SDK sends nothing else; moto 5.2.5 parses CloudWatch's query and JSON protocols only (moto
issue #9195). `CborShim` turns such a request into the AWS JSON 1.0 request of the same
operation and moto's JSON answer back into CBOR, both directed by botocore's model of the
service, so that timestamps carry CBOR's tag 1 and numbers keep their types, as the SDK's
decoder requires.

`percentiles` teaches moto's statistics CloudWatch's `pNN` (p50, p99, p99.9): moto answers
`null` for them.
"""

import gzip
import io
import json
import math
import re

import botocore.session
from botocore.parsers import JSONParser, RpcV2CBORParser
from botocore.serialize import CBORSerializer, JSONSerializer

CBOR_SERVICES = ("cloudwatch",)


class _Encoder(CBORSerializer):
    """botocore's CBOR encoding of a value of a shape, and of an error's flat map."""

    TIMESTAMP_FORMAT = "unixtimestamp"

    def encode(self, value, shape) -> bytes:
        out = bytearray()
        self._serialize_data_item(out, value, shape)
        return bytes(out)

    def encode_strings(self, value: dict) -> bytes:
        out = bytearray()
        self._write_head(out, self.MAP_MAJOR_TYPE, len(value))
        for key, item in value.items():
            for text in (str(key), str(item)):
                data = text.encode("utf-8")
                self._write_head(out, self.STRING_MAJOR_TYPE, len(data))
                out += data
        return bytes(out)

    def _write_head(self, out: bytearray, major: int, length: int) -> None:
        info, size = self._get_additional_info_and_num_bytes(length)
        out += self._get_initial_byte(major, info)
        if size:
            out += length.to_bytes(size, "big")


class CborShim:
    """WSGI middleware: RPC v2 CBOR requests of `CBOR_SERVICES`, answered by moto's JSON side."""

    def __init__(self, app):
        self.app = app
        session = botocore.session.get_session()
        self.models = {}
        for name in CBOR_SERVICES:
            model = session.get_service_model(name)
            self.models[model.metadata["targetPrefix"]] = model
        self.encoder = _Encoder()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_SMITHY_PROTOCOL") != "rpc-v2-cbor":
            return self.app(environ, start_response)
        # /service/{ServiceShape}/operation/{Operation}
        parts = environ.get("PATH_INFO", "").strip("/").split("/")
        model = self.models.get(parts[1]) if len(parts) == 4 else None
        if model is None or parts[0] != "service" or parts[2] != "operation":
            return self._error(start_response, 404, "UnknownOperationException", "no such path")
        try:
            operation = model.operation_model(parts[3])
        except Exception:
            return self._error(
                start_response, 400, "UnknownOperationException", f"unknown operation {parts[3]}"
            )
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        # PutMetricData's SDKs gzip a body over 10 KB (CloudWatch's request compression).
        if environ.get("HTTP_CONTENT_ENCODING", "").lower() == "gzip":
            raw = gzip.decompress(raw)
        params = {}
        if raw:
            params = RpcV2CBORParser().parse_data_item(io.BufferedReader(io.BytesIO(raw)))
        request = JSONSerializer().serialize_to_request(params, operation)
        body = request["body"] if isinstance(request["body"], bytes) else request["body"].encode()
        inner = dict(environ)
        inner.update(
            {
                "PATH_INFO": "/",
                "REQUEST_METHOD": "POST",
                "CONTENT_TYPE": request["headers"]["Content-Type"],
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_X_AMZ_TARGET": request["headers"]["X-Amz-Target"],
                "wsgi.input": io.BytesIO(body),
            }
        )
        inner.pop("HTTP_SMITHY_PROTOCOL", None)
        inner.pop("HTTP_CONTENT_ENCODING", None)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        answer = b"".join(self.app(inner, capture))
        return self._answer(start_response, operation, captured, answer)

    def _answer(self, start_response, operation, captured, answer):
        status = captured["status"]
        code = int(status.split()[0])
        headers = [
            (k, v)
            for k, v in captured["headers"]
            if k.lower() not in ("content-type", "content-length")
        ]
        if code >= 300:
            try:
                error = json.loads(answer or b"{}")
            except ValueError:
                error = {"__type": "InternalFailure", "message": answer.decode("utf-8", "replace")}
            fields = {k: v for k, v in error.items() if k in ("__type", "message", "Message")}
            body = self.encoder.encode_strings(fields)
        elif operation.output_shape is None:
            body = b""
        else:
            parsed = JSONParser().parse(
                {"status_code": code, "headers": {}, "body": answer or b"{}"},
                operation.output_shape,
            )
            parsed.pop("ResponseMetadata", None)
            body = self.encoder.encode(parsed, operation.output_shape)
        headers += [
            ("Content-Type", "application/cbor"),
            ("Content-Length", str(len(body))),
            ("smithy-protocol", "rpc-v2-cbor"),
        ]
        start_response(status, headers)
        return [body]

    def _error(self, start_response, code, kind, message):
        body = self.encoder.encode_strings({"__type": kind, "message": message})
        start_response(
            f"{code} Error",
            [
                ("Content-Type", "application/cbor"),
                ("Content-Length", str(len(body))),
                ("smithy-protocol", "rpc-v2-cbor"),
            ],
        )
        return [body]


PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?|100)$")


def percentile(values, p: float):
    """The nearest-rank percentile of `values` (CloudWatch's pNN over a period's samples)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def percentiles() -> None:
    """Gives moto's `Statistics` the `pNN` statistics, computed over the period's values."""
    from moto.cloudwatch.models import Statistics

    plain = Statistics.get_statistics_for_type

    def with_percentiles(self, stat):
        found = PERCENTILE.match(stat)
        if found is None:
            return plain(self, stat)
        return percentile(self.metric_single_values_list, float(found.group(1)))

    Statistics.get_statistics_for_type = with_percentiles
