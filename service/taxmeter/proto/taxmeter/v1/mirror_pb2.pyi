from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Arm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARM_UNSPECIFIED: _ClassVar[Arm]
    ARM_GUARDED: _ClassVar[Arm]
    ARM_UNGUARDED: _ClassVar[Arm]
ARM_UNSPECIFIED: Arm
ARM_GUARDED: Arm
ARM_UNGUARDED: Arm

class ProductionAnswer(_message.Message):
    __slots__ = ("text", "latency_s", "ttft_s", "prompt_tokens", "completion_tokens", "finish_reason", "arm")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LATENCY_S_FIELD_NUMBER: _ClassVar[int]
    TTFT_S_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    text: bytes
    latency_s: float
    ttft_s: float
    prompt_tokens: int
    completion_tokens: int
    finish_reason: bytes
    arm: Arm
    def __init__(self, text: _Optional[bytes] = ..., latency_s: _Optional[float] = ..., ttft_s: _Optional[float] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., finish_reason: _Optional[bytes] = ..., arm: _Optional[_Union[Arm, str]] = ...) -> None: ...

class MirrorRequest(_message.Message):
    __slots__ = ("request_id", "route", "category", "body", "production", "force_sample")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    PRODUCTION_FIELD_NUMBER: _ClassVar[int]
    FORCE_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    request_id: bytes
    route: bytes
    category: bytes
    body: bytes
    production: ProductionAnswer
    force_sample: bool
    def __init__(self, request_id: _Optional[bytes] = ..., route: _Optional[bytes] = ..., category: _Optional[bytes] = ..., body: _Optional[bytes] = ..., production: _Optional[_Union[ProductionAnswer, _Mapping]] = ..., force_sample: _Optional[bool] = ...) -> None: ...

class MirrorAck(_message.Message):
    __slots__ = ("request_id", "sampled", "decision", "reason")
    class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DECISION_UNSPECIFIED: _ClassVar[MirrorAck.Decision]
        SAMPLED: _ClassVar[MirrorAck.Decision]
        NOT_SAMPLED: _ClassVar[MirrorAck.Decision]
        DROPPED_QUEUE_FULL: _ClassVar[MirrorAck.Decision]
        DROPPED_BUDGET: _ClassVar[MirrorAck.Decision]
    DECISION_UNSPECIFIED: MirrorAck.Decision
    SAMPLED: MirrorAck.Decision
    NOT_SAMPLED: MirrorAck.Decision
    DROPPED_QUEUE_FULL: MirrorAck.Decision
    DROPPED_BUDGET: MirrorAck.Decision
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    sampled: bool
    decision: MirrorAck.Decision
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., sampled: _Optional[bool] = ..., decision: _Optional[_Union[MirrorAck.Decision, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class MirrorStreamSummary(_message.Message):
    __slots__ = ("received", "sampled", "not_sampled", "dropped", "rejected", "errors")
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_FIELD_NUMBER: _ClassVar[int]
    NOT_SAMPLED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    received: int
    sampled: int
    not_sampled: int
    dropped: int
    rejected: int
    errors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, received: _Optional[int] = ..., sampled: _Optional[int] = ..., not_sampled: _Optional[int] = ..., dropped: _Optional[int] = ..., rejected: _Optional[int] = ..., errors: _Optional[_Iterable[str]] = ...) -> None: ...
