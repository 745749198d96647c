"""The audit trail: one row for every automated decision the assistant takes, hash-chained.

A row says what was decided, on what evidence (intent, confidence, model id) and by which
action, so a reviewer can reconstruct why a customer got an answer or a handoff. Rows carry
no PII: e-mail addresses and free text never go in ``details``.

Tamper evidence (issue 19). Each row has a gap-free ``sequence``, the ``content_digest`` of what
it says, the ``previous_hash`` of the row before it and its own ``record_hash`` =
H(sequence, previous_hash, content_digest): editing, deleting or re-ordering a row breaks the
chain at that row (``AuditLog.verify``). Whoever owns the database could still rewrite the whole
chain, so the head is checkpointed, signed with the deployment's secret key, to a file outside
the database (``write_checkpoint``); verify checks every checkpoint too.

Erasure (``AuditLog.anonymise_conversations``) replaces what identifies a customer with a
tombstone but keeps the row's original ``content_digest``, so the chain still links. The erasure
itself is a chained record listing the digests of the redacted rows: verify accepts an erased
row's stored digest only when that record follows it, and checks the redacted row against it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, DateTime, Float, Integer, String, Text, UniqueConstraint, delete, func, select, text
from sqlalchemy.orm import Session

from frontdesk.core.schema import Base, utcnow

if TYPE_CHECKING:
    from frontdesk.core.db import Database
    from frontdesk.settings import Settings

# The previous_hash of the first record.
GENESIS_HASH = "0" * 64
# The decision of the record an erasure appends, and the conversation id erased rows get.
ERASURE_DECISION = "erasure"
ERASED_CONVERSATION = "[erased]"
# What an erased row keeps of its details: outcomes and labels, nothing that leads back to a
# customer, a handoff or an agent (ids, references, expiry times). Unknown keys are dropped.
ERASURE_KEEPS_DETAILS = frozenset({
    "article", "score", "escalated", "created", "found", "indicator", "stale", "status", "impact", "queue",
    "priority", "category", "handoff_reason", "resolved", "attempts_left", "intent_correct", "correct_intent",
    "with_reference", "frozen", "component",
})
# pg_advisory_xact_lock's key for appending to the chain (the bytes of "audit"): every writer, in
# every process and on every server, takes it before it reads the head, so the chain stays linear.
_CHAIN_LOCK_KEY = 0x6175646974
_VERIFY_BATCH = 1000


class AuditRow(Base):
    __tablename__ = "audit_records"
    __table_args__ = (UniqueConstraint("sequence", name="uq_audit_records_sequence"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    recorded_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    conversation_id = Column(String(128), nullable=True, index=True)
    decision = Column(String(64), nullable=False, index=True)
    intent = Column(String(64), nullable=True)
    confidence = Column(Float, nullable=True)
    action = Column(String(64), nullable=True)
    model_id = Column(String(64), nullable=True)
    reason = Column(String(64), nullable=True)
    details = Column(Text, nullable=False, default="{}")
    # The chain. Nullable so that a row written around AuditLog (a test fixture, a raw INSERT)
    # can be stored at all; verify reports such a row as outside the chain.
    sequence = Column(Integer, nullable=True)
    previous_hash = Column(String(64), nullable=True)
    content_digest = Column(String(64), nullable=True)
    record_hash = Column(String(64), nullable=True)
    # The data-subject request that anonymised this row, if one did.
    erased_by = Column(String(128), nullable=True)


def _canonical(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def content_digest(row: Any) -> str:
    """SHA-256 of what a record says (``row``: an AuditRow, or a result row with its columns).

    ``details`` is hashed as the stored text, so any edit to it counts, whitespace included.
    """
    content = {
        "time": row.recorded_at.isoformat(),
        "conversation_id": row.conversation_id,
        "decision": row.decision,
        "intent": row.intent,
        "confidence": row.confidence,
        "action": row.action,
        "model_id": row.model_id,
        "reason": row.reason,
        "details": row.details,
    }
    return hashlib.sha256(_canonical(content)).hexdigest()


def link_hash(sequence: int, previous_hash: str, digest: str) -> str:
    """A record's hash: its place in the chain, the record before it and its content's digest."""
    return hashlib.sha256(_canonical(
        {"sequence": sequence, "previous_hash": previous_hash, "content_digest": digest})).hexdigest()


@dataclass(frozen=True)
class DecisionContext:
    """The evidence behind a decision, as the dialogue engine saw it."""

    conversation_id: str | None  # None: a decision about staff access, not a conversation
    intent: str | None = None
    confidence: float | None = None
    action: str | None = None
    model_id: str | None = None
    # The pseudonym of the client's address (the chat channel's, never the address itself): what
    # rate limits count by when a client rotates conversations. Not part of the audit record.
    client: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    id: int
    recorded_at: datetime
    conversation_id: str | None
    decision: str
    intent: str | None
    confidence: float | None
    action: str | None
    model_id: str | None
    reason: str | None
    details: dict[str, Any] = field(default_factory=dict)
    sequence: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "recorded_at": self.recorded_at.isoformat() + "Z",
            "conversation_id": self.conversation_id,
            "decision": self.decision,
            "intent": self.intent,
            "confidence": self.confidence,
            "action": self.action,
            "model_id": self.model_id,
            "reason": self.reason,
            "details": self.details,
        }


def _audit_record(row: AuditRow) -> AuditRecord:
    return AuditRecord(
        id=row.id,
        recorded_at=row.recorded_at,
        conversation_id=row.conversation_id,
        decision=row.decision,
        intent=row.intent,
        confidence=row.confidence,
        action=row.action,
        model_id=row.model_id,
        reason=row.reason,
        details=json.loads(row.details or "{}"),
        sequence=row.sequence,
    )


@dataclass(frozen=True)
class ChainBreak:
    """The first thing wrong with the trail: where (a record's sequence and id, or a line of the
    checkpoint file), what (``kind``) and the evidence (``detail``)."""

    kind: str  # edited, deleted, re-ordered, rewritten, truncated, outside the chain, bad checkpoint
    detail: str
    sequence: int | None = None
    record_id: int | None = None
    checkpoint_line: int | None = None

    def describe(self) -> str:
        if self.checkpoint_line is not None:
            where = f"checkpoint line {self.checkpoint_line}"
        elif self.sequence is None:
            where = f"record id {self.record_id}"
        else:
            where = f"record #{self.sequence} ({'missing' if self.record_id is None else f'id {self.record_id}'})"
        return f"audit trail broken at {where}: {self.kind} ({self.detail})"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "sequence": self.sequence, "record_id": self.record_id,
                "checkpoint_line": self.checkpoint_line}


@dataclass(frozen=True)
class Checkpoint:
    """The chain head at a moment, signed (HMAC-SHA256 with the deployment's secret key)."""

    sequence: int
    record_hash: str
    time: datetime
    signature: str

    @staticmethod
    def sign(sequence: int, record_hash: str, time: datetime, secret_key: str) -> Checkpoint:
        return Checkpoint(sequence, record_hash, time, _checkpoint_signature(sequence, record_hash, time, secret_key))

    def signed_by(self, secret_key: str) -> bool:
        expected = _checkpoint_signature(self.sequence, self.record_hash, self.time, secret_key)
        return hmac.compare_digest(expected, self.signature)

    def as_dict(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "record_hash": self.record_hash, "time": _iso(self.time),
                "hmac": self.signature}


def _iso(when: datetime) -> str:
    return when.isoformat() + "Z"


def _checkpoint_signature(sequence: int, record_hash: str, time: datetime, secret_key: str) -> str:
    message = _canonical({"sequence": sequence, "record_hash": record_hash, "time": _iso(time)})
    return hmac.new(secret_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Verification:
    """What ``AuditLog.verify`` found: the chain's extent and head, and the first break if any."""

    records: int
    first_sequence: int
    head_sequence: int
    head_hash: str
    checkpoints: int
    broken: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def describe(self) -> str:
        if self.broken is not None:
            return self.broken.describe()
        pruned = f" (from #{self.first_sequence}; earlier records vouched for by a checkpoint)" \
            if self.first_sequence > 1 else ""
        return (f"audit trail verified: {self.records} records{pruned}, chain head #{self.head_sequence} "
                f"{self.head_hash[:16]}…, {self.checkpoints} checkpoints")

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "records": self.records, "first_sequence": self.first_sequence,
                "head_sequence": self.head_sequence, "head_hash": self.head_hash, "checkpoints": self.checkpoints,
                "broken": self.broken.as_dict() if self.broken else None, "message": self.describe()}


@dataclass(frozen=True)
class _Erasure:
    """An erasure record as verify reads it: where it sits and the redacted rows it vouches for."""

    sequence: int
    redacted: dict[int, str]


class AuditLog:
    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock

    def record(
        self,
        session: Session,
        context: DecisionContext,
        decision: str,
        reason: str | None = None,
        **details: Any,
    ) -> None:
        self._append(session, AuditRow(
            conversation_id=context.conversation_id,
            decision=decision,
            intent=context.intent,
            confidence=context.confidence,
            action=context.action,
            model_id=context.model_id,
            reason=reason,
            details=json.dumps(details, sort_keys=True, default=str),
        ))

    def list(
        self,
        session: Session,
        conversation_id: str | None = None,
        decision: str | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if conversation_id:
            query = query.where(AuditRow.conversation_id == conversation_id)
        if decision:
            query = query.where(AuditRow.decision == decision)
        return [_audit_record(row) for row in session.execute(query).scalars()]

    def conversation(self, session: Session, conversation_id: str) -> list[AuditRecord]:
        """A conversation's records in the order they were written."""
        query = (select(AuditRow).where(AuditRow.conversation_id == conversation_id)
                 .order_by(AuditRow.sequence, AuditRow.id))
        return [_audit_record(row) for row in session.execute(query).scalars()]

    def anonymise_conversations(self, session: Session, conversation_ids: Collection[str], request_id: str) -> int:
        """Erases the conversations' records for a data-subject request: the conversation id becomes
        a tombstone, identifying details go, the row is marked with the request. Appends an
        ``erasure`` record (the request id, the count and each redacted row's digest; no
        identifiers) and returns how many records were anonymised."""
        wanted = sorted({conversation_id for conversation_id in conversation_ids
                         if conversation_id and conversation_id != ERASED_CONVERSATION})
        # Under the chain lock, so a record another transaction is writing for these conversations
        # either commits first (and is erased) or comes after the erasure record.
        _lock_chain(session)
        redacted: list[list[Any]] = []
        anonymised = 0
        for start in range(0, len(wanted), 500):  # SQLite allows a limited number of parameters
            rows = session.execute(select(AuditRow).where(AuditRow.conversation_id.in_(wanted[start:start + 500]))
                                   .order_by(AuditRow.sequence, AuditRow.id)).scalars()
            for row in rows:
                row.conversation_id = ERASED_CONVERSATION
                row.details = _redacted_details(row.details)
                row.erased_by = request_id
                anonymised += 1
                if row.sequence is not None:
                    redacted.append([row.sequence, content_digest(row)])
        self._append(session, AuditRow(
            conversation_id=None, decision=ERASURE_DECISION, reason="data_subject_request",
            details=json.dumps({"request_id": request_id, "records": anonymised, "redacted": redacted},
                               sort_keys=True),
        ))
        return anonymised

    def head(self, session: Session) -> tuple[int, str]:
        """The last committed record's sequence and hash ((0, GENESIS_HASH) for an empty chain)."""
        row = session.execute(select(AuditRow.sequence, AuditRow.record_hash).where(AuditRow.sequence.is_not(None))
                              .order_by(AuditRow.sequence.desc()).limit(1)).first()
        return (row.sequence, row.record_hash) if row else (0, GENESIS_HASH)

    def verify(self, session: Session, checkpoints: Sequence[Checkpoint] = ()) -> Verification:
        """Walks the chain from its first record: each record's content against its digest, its
        place (sequence, link to the record before) and its hash; then each checkpoint against the
        record at its sequence. Stops at the first break."""
        erasures = self._erasures(session)
        checkpointed: dict[int, list[Checkpoint]] = {}
        for checkpoint in checkpoints:
            checkpointed.setdefault(checkpoint.sequence, []).append(checkpoint)
        counted, first, expected, previous_hash = 0, 0, 0, GENESIS_HASH

        def result(broken: ChainBreak | None = None) -> Verification:
            return Verification(counted, first or 1, expected - 1 if counted else 0, previous_hash,
                                len(checkpoints), broken)

        for row in _chained_rows(session):
            if not counted:
                first = expected = row.sequence
                if first < 1:
                    return result(ChainBreak("re-ordered", "sequence numbers start at 1", row.sequence, row.id))
                if first > 1:  # the start pruned: only a checkpoint can vouch for what it linked to
                    anchors = checkpointed.get(first - 1, [])
                    if not anchors or any(c.record_hash != row.previous_hash for c in anchors):
                        return result(ChainBreak("deleted", f"the chain starts at #{first} (id {row.id}) and no "
                                                 f"checkpoint vouches for the records before it", sequence=1))
                    previous_hash = row.previous_hash
            if row.sequence != expected:
                if row.sequence > expected:
                    return result(ChainBreak("deleted", f"the chain goes from #{expected - 1} to #{row.sequence} "
                                             f"(id {row.id})", sequence=expected))
                return result(ChainBreak("re-ordered", f"a second record #{row.sequence}", row.sequence, row.id))
            edited = _content_problem(row, erasures)
            if edited:
                return result(ChainBreak("edited", edited, row.sequence, row.id))
            if row.previous_hash != previous_hash:
                return result(_broken_link(session, row))
            if link_hash(row.sequence, row.previous_hash, row.content_digest) != row.record_hash:
                return result(ChainBreak("edited", "its sequence, link or digest was changed: its hash no longer "
                                         "matches them", row.sequence, row.id))
            for checkpoint in checkpointed.get(row.sequence, []):
                if checkpoint.record_hash != row.record_hash:
                    return result(ChainBreak("rewritten", f"the checkpoint of {_iso(checkpoint.time)} has hash "
                                             f"{checkpoint.record_hash[:16]}…, the record {row.record_hash[:16]}…",
                                             row.sequence, row.id))
            counted += 1
            expected = row.sequence + 1
            previous_hash = row.record_hash
        head = expected - 1 if expected else 0
        beyond = [c for c in checkpoints if c.sequence > head]
        if beyond:
            latest = max(beyond, key=lambda c: c.sequence)
            return result(ChainBreak("truncated", f"the checkpoint of {_iso(latest.time)} vouches for "
                                     f"#{latest.sequence}, the chain ends at #{head}", sequence=head + 1))
        outside = session.execute(select(AuditRow.id).where(AuditRow.sequence.is_(None))
                                  .order_by(AuditRow.id).limit(1)).scalar()
        if outside is not None:
            return result(ChainBreak("outside the chain", "it has no sequence: written around the audit log",
                                     record_id=outside))
        return result()

    def _erasures(self, session: Session) -> dict[str, list[_Erasure]]:
        erasures: dict[str, list[_Erasure]] = {}
        rows = session.execute(select(AuditRow.sequence, AuditRow.details).where(
            AuditRow.decision == ERASURE_DECISION, AuditRow.sequence.is_not(None)))
        for sequence, details in rows:
            try:
                request = json.loads(details)
                redacted = {int(number): str(digest) for number, digest in request.get("redacted", [])}
                erasures.setdefault(str(request["request_id"]), []).append(_Erasure(sequence, redacted))
            except (ValueError, TypeError, KeyError, AttributeError):
                continue  # an edited erasure record fails on its own digest when the walk reaches it
        return erasures

    def _append(self, session: Session, row: AuditRow) -> None:
        _lock_chain(session)
        sequence, previous_hash = self.head(session)
        # Records this transaction added and the session has not flushed yet come after the head.
        pending = [o for o in session.new if isinstance(o, AuditRow) and o.sequence is not None]
        if pending:
            last = max(pending, key=lambda o: o.sequence)
            if last.sequence > sequence:
                sequence, previous_hash = last.sequence, last.record_hash
        row.recorded_at = row.recorded_at or self.clock()
        row.details = row.details if row.details is not None else "{}"
        row.sequence = sequence + 1
        row.previous_hash = previous_hash
        row.content_digest = content_digest(row)
        row.record_hash = link_hash(row.sequence, previous_hash, row.content_digest)
        session.add(row)


def _lock_chain(session: Session) -> None:
    """Takes the chain's lock for the rest of the transaction, so no other writer reads the same
    head. PostgreSQL: an advisory lock. SQLite: the database's write lock, which the app's
    transactions only take at their first write (pysqlite opens them lazily), hence a write that
    changes nothing; it waits out another writer (busy_timeout) and then sees its commit."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})
    elif dialect == "sqlite":
        session.execute(text("UPDATE audit_records SET sequence = sequence WHERE 0"))


def _chained_rows(session: Session) -> Iterator[Any]:
    """The chained rows in sequence order, a batch at a time (a trail can be long)."""
    columns = AuditRow.__table__.c
    after: int | None = None
    while True:
        query = select(*columns).where(columns.sequence.is_not(None)).order_by(columns.sequence).limit(_VERIFY_BATCH)
        if after is not None:
            query = query.where(columns.sequence > after)
        batch = session.execute(query).all()
        yield from batch
        if len(batch) < _VERIFY_BATCH:
            return
        after = batch[-1].sequence


def _content_problem(row: Any, erasures: dict[str, list[_Erasure]]) -> str | None:
    digest = content_digest(row)
    if row.erased_by:
        vouching = [e for e in erasures.get(row.erased_by, []) if e.sequence > row.sequence
                    and row.sequence in e.redacted]
        if vouching:
            if any(e.redacted[row.sequence] == digest for e in vouching):
                return None
            return f"changed after request {row.erased_by} erased it"
        if digest != row.content_digest:
            return f"marked erased by request {row.erased_by}, but no erasure record for it follows"
        return None
    if digest != row.content_digest:
        return "its content no longer matches its digest"
    return None


def _broken_link(session: Session, row: Any) -> ChainBreak:
    """Why a record does not link to the one before it: it links to a record placed after it (the
    two were swapped), to an earlier one (records were moved in between), or to none that exists
    (the record before it was deleted and the chain renumbered, or rewritten with new hashes)."""
    linked = session.execute(select(AuditRow.sequence, AuditRow.id).where(
        AuditRow.record_hash == row.previous_hash)).first()
    if linked is not None and linked.sequence is not None:
        where = "after" if linked.sequence > row.sequence else "before"
        return ChainBreak("re-ordered", f"it links to #{linked.sequence} (id {linked.id}), placed {where} it",
                          row.sequence, row.id)
    if row.sequence == 1:
        return ChainBreak("edited", "the first record does not link to the start of the chain", row.sequence, row.id)
    return ChainBreak("deleted", f"the record it links to is gone: record #{row.sequence - 1} was deleted and the "
                      "chain renumbered, or rewritten with new hashes", row.sequence, row.id)


def _redacted_details(stored: str | None) -> str:
    try:
        details = json.loads(stored or "{}")
    except ValueError:
        details = {}
    kept = {key: value for key, value in details.items() if key in ERASURE_KEEPS_DETAILS} \
        if isinstance(details, dict) else {}
    return json.dumps(kept, sort_keys=True, default=str)


# Checkpoints: the chain head, signed, one JSON line each, in a file outside the database.

def checkpoint_head(session: Session, secret_key: str, now: datetime | None = None) -> Checkpoint:
    sequence, record_hash = AuditLog().head(session)
    return Checkpoint.sign(sequence, record_hash, (now or utcnow()).replace(microsecond=0), secret_key)


def read_checkpoints(path: Path, secret_key: str) -> tuple[list[Checkpoint], ChainBreak | None]:
    """The checkpoints in ``path`` (none if it does not exist), and the first line that is not a
    checkpoint signed with ``secret_key``, if any."""
    if not path.exists():
        return [], None
    checkpoints: list[Checkpoint] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            fields = json.loads(line)
            checkpoint = Checkpoint(int(fields["sequence"]), str(fields["record_hash"]),
                                    datetime.fromisoformat(str(fields["time"]).removesuffix("Z")),
                                    str(fields["hmac"]))
        except (ValueError, TypeError, KeyError):
            return checkpoints, ChainBreak("bad checkpoint", "the line is not a checkpoint", checkpoint_line=number)
        if not checkpoint.signed_by(secret_key):
            return checkpoints, ChainBreak("bad checkpoint", "its signature does not match: forged, edited, or "
                                           "signed with another secret key", checkpoint_line=number)
        checkpoints.append(checkpoint)
    return checkpoints, None


def append_checkpoint(path: Path, checkpoint: Checkpoint) -> bool:
    """Appends ``checkpoint`` as a line of ``path``, unless the last line already has that head
    (a launcher calling this every few minutes on a quiet system adds nothing). True if written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    last = _last_line(path)
    if last:
        try:
            fields = json.loads(last)
            if (fields.get("sequence"), fields.get("record_hash")) == (checkpoint.sequence, checkpoint.record_hash):
                return False
        except (ValueError, AttributeError):
            pass  # a broken last line is verify's to report; the new checkpoint still goes in
    # One write of one short line in append mode: lines from concurrent writers do not interleave.
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(checkpoint.as_dict(), sort_keys=True) + "\n")
        out.flush()
        os.fsync(out.fileno())
    return True


def _last_line(path: Path) -> str:
    """The file's last non-empty line, read from its end (the file grows for years)."""
    if not path.exists():
        return ""
    with path.open("rb") as file:
        size = file.seek(0, os.SEEK_END)
        file.seek(max(0, size - 4096))
        lines = [line for line in file.read().decode("utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def write_checkpoint(db: Database, settings: Settings) -> Checkpoint:
    """Checkpoints the committed chain head to ``settings.privacy.audit_checkpoint_file``, for
    ``frontdesk audit checkpoint`` and the launcher's periodic call."""
    with db.transaction() as session:
        checkpoint = checkpoint_head(session, settings.secret_key)
    append_checkpoint(settings.privacy.audit_checkpoint_file, checkpoint)
    return checkpoint


def prunable_through(session: Session, cutoff: datetime) -> int:
    """The last sequence of the chain's oldest stretch written before ``cutoff``: every record up
    to it may go (0: none). It stops at the first record that is still in its period, so what is
    left is one unbroken chain whatever the clocks of concurrent writers did."""
    first_kept = session.execute(select(func.min(AuditRow.sequence)).where(
        AuditRow.sequence.is_not(None), AuditRow.recorded_at >= cutoff)).scalar()
    if first_kept is not None:
        return int(first_kept) - 1
    return AuditLog().head(session)[0]


def prune_before(db: Database, settings: Settings, cutoff: datetime, batch_size: int = 5000,
                 now: datetime | None = None) -> tuple[int, int]:
    """Deletes the chain's records written before ``cutoff``, oldest first, ``batch_size`` a
    transaction; (records deleted, batches). Before each batch goes, a signed checkpoint of its
    last record is written outside the database: ``verify`` accepts a chain whose start was
    pruned only when such a checkpoint vouches for the record the new first one links to, so a
    run interrupted between batches still verifies."""
    deleted = batches = 0
    with db.transaction() as session:
        through = prunable_through(session, cutoff)
        start = session.execute(select(func.min(AuditRow.sequence)).where(AuditRow.sequence.is_not(None))).scalar()
    if start is None or through < start:
        return 0, 0
    for low in range(int(start), through + 1, batch_size):
        high = min(low + batch_size - 1, through)
        with db.transaction() as session:
            _lock_chain(session)
            record_hash = session.execute(select(AuditRow.record_hash).where(AuditRow.sequence == high)).scalar_one()
            append_checkpoint(settings.privacy.audit_checkpoint_file, Checkpoint.sign(
                high, record_hash, (now or utcnow()).replace(microsecond=0), settings.secret_key))
            result = session.execute(delete(AuditRow).where(AuditRow.sequence >= low, AuditRow.sequence <= high))
        deleted += result.rowcount
        batches += 1
    return deleted, batches


def verify_trail(db: Database, settings: Settings) -> Verification:
    """The chain in the database against the checkpoint file (``frontdesk audit verify``)."""
    checkpoints, bad_line = read_checkpoints(settings.privacy.audit_checkpoint_file, settings.secret_key)
    with db.transaction() as session:
        verification = AuditLog().verify(session, checkpoints)
    if bad_line is not None and verification.ok:
        return Verification(verification.records, verification.first_sequence, verification.head_sequence,
                            verification.head_hash, len(checkpoints), bad_line)
    return verification


# Explanations: what the bot decided in a conversation, and why, in sentences.

# Records of one turn follow one customer message: the same classification, written within
# seconds. A longer pause starts a new turn even when the classification repeats.
_TURN_GAP = timedelta(seconds=30)


@dataclass(frozen=True)
class Turn:
    number: int
    started_at: datetime
    intent: str | None
    confidence: float | None
    model_id: str | None
    records: tuple[AuditRecord, ...]

    def reading(self) -> str | None:
        if self.intent is None:
            return None
        evidence = ", ".join(part for part in (
            f"confidence {self.confidence:.2f}" if self.confidence is not None else None,
            f"model {self.model_id}" if self.model_id else None) if part)
        evidence = f" ({evidence})" if evidence else ""
        if self.intent == "nlu_fallback":
            return f"did not understand the message well enough{evidence}"
        return f"read the message as `{self.intent}`{evidence}"

    def sentence(self) -> str:
        parts = [part for part in (self.reading(), *(describe_decision(r) for r in self.records)) if part]
        return f"Turn {self.number}, {self.started_at.strftime('%H:%M:%S')} UTC: " + "; ".join(parts) + "."

    def as_dict(self) -> dict[str, Any]:
        return {
            "turn": self.number, "time": _iso(self.started_at), "intent": self.intent,
            "confidence": self.confidence, "model_id": self.model_id, "sentence": self.sentence(),
            "decisions": [{"sequence": r.sequence, "id": r.id, "time": _iso(r.recorded_at), "decision": r.decision,
                           "action": r.action, "reason": r.reason, "sentence": describe_decision(r)}
                          for r in self.records],
        }


def explain_conversation(records: Sequence[AuditRecord]) -> list[Turn]:
    """A conversation's records (in chain order) grouped into turns."""
    turns: list[list[AuditRecord]] = []
    for record in records:
        if turns:
            first, last = turns[-1][0], turns[-1][-1]
            same_message = (record.intent, record.confidence, record.model_id) == (
                first.intent, first.confidence, first.model_id)
            if same_message and _by_person(record) == _by_person(first) and \
                    record.recorded_at - last.recorded_at <= _TURN_GAP:
                turns[-1].append(record)
                continue
        turns.append([record])
    return [Turn(number, group[0].recorded_at, group[0].intent, group[0].confidence, group[0].model_id, tuple(group))
            for number, group in enumerate(turns, 1)]


def _by_person(record: AuditRecord) -> bool:
    return record.decision.startswith(("agent.", "ticketing."))


def _because(reason: str | None) -> str:
    return f" (reason: {reason.replace('_', ' ')})" if reason else ""


_PASSWORD_RESET = {
    "queued": "started the password reset; issued a reset link by e-mail",
    "no_account": "started the password reset; found no active account for the address, so sent no link",
    "sso_account": "started the password reset; the account signs in with single sign-on, so issued no link",
    "security_locked": "started the password reset; the account is locked for security, so issued no link",
    "rate_limited_email": "refused the password reset: too many requests for that address",
    "rate_limited_conversation": "refused the password reset: too many requests in this conversation",
    "rate_limited_client": "refused the password reset: too many requests from this client",
    "rate_limited_overall": "refused the password reset: too many requests overall",
    "completed": "the customer set a new password with a reset link",
}

_DECISIONS = {
    "billing.answered": "showed the verified customer's billing data",
    "billing.unresolved": "could not answer the billing question from the billing data",
    "billing.access_denied": "refused to show an invoice that is not the customer's",
    "knowledge.helped": "the customer said the help-centre answer helped",
    "knowledge.not_helped": "the customer said the help-centre answer did not help",
    "verification.code_requested": "asked for an e-mail verification code",
    "verification.verified": "verified the customer with the e-mail code",
    "verification.failed": "did not verify the customer",
    "verification.rate_limited": "refused another verification code: rate limit",
    "email.daily_cap_reached": "sent no e-mail: the daily cap for the address is reached",
    "customer.verified": "identified the customer from the support site's signed token",
    "customer.token_rejected": "rejected the support site's customer token",
    "customer.unbound": "stopped treating the customer as signed in",
    "csat.requested": "asked for a satisfaction rating",
    "agent.claimed": "an agent claimed the handoff",
    "agent.replied": "an agent replied",
    "agent.noted": "an agent added an internal note",
    "agent.closed": "an agent closed the handoff; the bot took over again",
    "ticketing.closed": "the ticket was closed in the ticketing system; the bot took over again",
    "erasure": "erased a customer's records",
}


def describe_decision(record: AuditRecord) -> str:
    """One decision as a clause, from what the record says (never from identifiers in it)."""
    decision, reason, details = record.decision, record.reason, record.details
    if decision.startswith("password_reset."):
        outcome = decision.split(".", 1)[1]
        clause = _PASSWORD_RESET.get(outcome, f"password reset: {outcome.replace('_', ' ')}")
        if details.get("escalated"):
            clause += f"; handed the conversation to a person{_because(reason)}"
        return clause
    if decision in ("handoff.created", "handoff.follow_up_created"):
        placed = ", ".join(f"{key} {details[key]}" for key in ("queue", "priority") if details.get(key))
        kind = "a follow-up ticket for a person" if "follow_up" in decision else "the conversation to a person"
        return f"handed {kind}{_because(reason)}" + (f", {placed}" if placed else "")
    if decision in ("handoff.reused", "handoff.follow_up_reused"):
        return f"joined the conversation's open handoff instead of opening another{_because(reason)}"
    if decision == "handoff.rate_limited":
        asked = details.get("handoff_reason")
        return (f"did not hand off{f' ({asked})' if asked else ''}: too many handoffs"
                f"{f' for this {reason}' if reason else ''}; the bot went on")
    if decision.startswith("billing.") and reason:
        return _DECISIONS.get(decision, f"decided `{decision}`") + (
            f" (question: `{reason}`)" if decision != "billing.access_denied" else _because(reason))
    if decision == "knowledge.answered":
        score = details.get("score")
        return (f"answered from the help centre with article `{details.get('article')}`"
                + (f" (score {score:.2f})" if isinstance(score, int | float) else ""))
    if decision == "ticket_status.answered":
        return "told the customer the status of their ticket" if details.get("found") \
            else "found no ticket of the customer's to report on"
    if decision == "service_status.answered":
        return f"told the service status (indicator {details.get('indicator')}" + \
            ("; stale" if details.get("stale") else "") + ")"
    if decision == "agent.feedback":
        return "an agent confirmed the bot read the intent right" if details.get("intent_correct") else \
            f"an agent said the intent was `{details.get('correct_intent')}`, not the bot's reading"
    if decision == "csat.requested" and reason:
        return f"asked for a satisfaction rating after resolving {reason.replace('_', ' ')}"
    if decision in _DECISIONS:
        return _DECISIONS[decision] + _because(reason)
    return f"decided `{decision}`{_because(reason)}"
