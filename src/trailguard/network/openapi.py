"""JSON Schemas of the exchange endpoints' bodies and answers, for the OpenAPI document.

The inbox reads the raw bytes (the signature covers them), so FastAPI cannot derive these
from a model; they document what ``envelope.parse_envelope`` and ``inbox._batch_items``
accept and what the inbox answers. Plain data: no web or database imports.
"""

from __future__ import annotations

from typing import Any

from trailguard.network.envelope import ENVELOPE_FORMAT, RECEIPT_FORMAT

_BASE64 = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
_NODE_ID = "^[a-z0-9][a-z0-9.-]{1,62}$"
NETWORK_PATTERN = "^(live|exercise-[a-z0-9][a-z0-9-]{2,60})$"  # as core.config.is_network_name
_INSTANT = {
    "type": "string",
    "format": "date-time",
    "description": "UTC, ISO 8601 with a trailing Z, as the sender wrote it when signing",
}

ENVELOPE_SCHEMA: dict[str, Any] = {
    "title": "Envelope",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "format",
        "network",
        "message_id",
        "sender",
        "recipient",
        "created_at",
        "expires_at",
        "message_type",
        "correlation_id",
        "payload_digest",
        "key_id",
        "ciphertext",
        "signature",
    ],
    "properties": {
        "format": {"type": "string", "const": ENVELOPE_FORMAT},
        "network": {
            "type": "string",
            "pattern": NETWORK_PATTERN,
            "description": "the sender's network, signed: 'live' for real work, an exercise "
            "network's id for training (issue 17); a node refuses every other network's "
            "envelopes (wrong_network)",
        },
        "message_id": {"type": "string", "format": "uuid"},
        "sender": {"type": "string", "pattern": _NODE_ID},
        "recipient": {"type": "string", "pattern": _NODE_ID},
        "created_at": _INSTANT,
        "expires_at": _INSTANT,
        "message_type": {"type": "string", "pattern": "^[a-z0-9._-]{1,100}$"},
        "correlation_id": {"type": ["string", "null"], "maxLength": 200},
        "payload_digest": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "key_id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        "ciphertext": {
            "type": "string",
            "pattern": _BASE64,
            "description": "canonical base64 of the X25519 sealed box of the payload",
        },
        "signature": {
            "type": "string",
            "pattern": "^[A-Za-z0-9+/]{86}==$",
            "description": "canonical base64 of the Ed25519 signature (64 bytes)",
        },
    },
}

RECEIPT_SCHEMA: dict[str, Any] = {
    "title": "Receipt",
    "type": "object",
    "required": [
        "format",
        "message_id",
        "envelope_digest",
        "stage",
        "issuer",
        "subject_sender",
        "at",
        "reason",
        "detail",
        "key_id",
        "signature",
    ],
    "properties": {
        "format": {"type": "string", "const": RECEIPT_FORMAT},
        "message_id": {"type": "string"},
        "envelope_digest": {"type": "string"},
        "stage": {"type": "string", "enum": ["received", "accepted", "rejected", "acknowledged"]},
        "issuer": {"type": "string"},
        "subject_sender": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "reason": {"type": ["string", "null"]},
        "detail": {"type": ["string", "null"]},
        "key_id": {"type": "string"},
        "signature": {"type": "string"},
    },
}

REFUSAL_SCHEMA: dict[str, Any] = {
    "title": "ExchangeRefusal",
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "the rejection code"},
        "detail": {"type": "string"},
        "receipt": {
            **RECEIPT_SCHEMA,
            "description": "signed `rejected` receipt; absent when the body was not an "
            "envelope at all, was over size, or the address was rate-limited",
        },
    },
}

INBOX_ANSWER_SCHEMA: dict[str, Any] = {
    "title": "ExchangeAccepted",
    "type": "object",
    "required": ["status", "duplicate", "receipts"],
    "properties": {
        "status": {"type": "string", "const": "accepted"},
        "duplicate": {"type": "boolean"},
        "receipts": {"type": "array", "items": RECEIPT_SCHEMA},
    },
}

BATCH_BODY_SCHEMA: dict[str, Any] = {
    "title": "EnvelopeBatch",
    "type": "object",
    "additionalProperties": False,
    "required": ["envelopes"],
    "properties": {
        "envelopes": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "string",
                "description": "one envelope: the exact canonical JSON its sender signed",
            },
        }
    },
}

BATCH_ANSWER_SCHEMA: dict[str, Any] = {
    "title": "EnvelopeBatchResults",
    "type": "object",
    "required": ["results"],
    "properties": {
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["status_code"],
                "properties": {
                    "status_code": {"type": ["integer", "null"]},
                    "body": {"type": "object"},
                    "error": {"type": "string"},
                },
            },
        }
    },
}
