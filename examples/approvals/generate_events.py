#!/usr/bin/env python3
"""Writes events.jsonl: a deterministic expense-approval history as MongoDB 7.0
change events on finance.expenses (fullDocument: updateLookup), in canonical
Extended JSON where types matter (dates, ObjectIds, decimals, timestamps). It
spans four days, with a 60-hour lull before the end, so expenses left pending
are escalated after 48 hours.

    python3 examples/approvals/generate_events.py > examples/approvals/events.jsonl
"""
import json
import random
import uuid

rng = random.Random(20240501)
COLLECTION_UUID = uuid.UUID(int=rng.getrandbits(128), version=4).hex.upper()
T0 = 1714557600  # 2024-05-01T10:00:00Z

EMPLOYEES = [
    ("Ava Patel", "ava.patel@example.com", "maria.rossi@example.com"),
    ("Liam Chen", "liam.chen@example.com", "maria.rossi@example.com"),
    ("Noah Okafor", "noah.okafor@example.com", "david.levi@example.com"),
    ("Emma Schmidt", "emma.schmidt@example.com", "david.levi@example.com"),
    ("Sofia Garcia", "sofia.garcia@example.com", "kenji.sato@example.com"),
    ("Lucas Martin", "lucas.martin@example.com", "kenji.sato@example.com"),
]
CATEGORIES = [("travel", 180, 4200), ("hotel", 90, 2600), ("meals", 12, 240),
              ("software", 20, 3000), ("hardware", 60, 5200), ("training", 150, 2400)]
CURRENCIES = ["EUR", "EUR", "USD", "GBP"]

clock = {"t": T0, "i": 0}
events = []


def tick():
    if rng.random() < 0.7:
        clock["t"] += rng.randint(20, 900)
        clock["i"] = 1
    else:
        clock["i"] += 1
    return clock["t"], clock["i"]


def date(t, ms=0):
    from datetime import datetime, timezone
    return {"$date": datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms:03d}Z"}


def token(t, i, oid=None):
    key = f"46645F696400{'64' + oid if oid else '5A'}0004" if oid else "0004"
    return {"_data": f"82{t:08X}{i:08X}2B042C0100296E5A1004{COLLECTION_UUID}{key}"}


def header(op, t, i, oid=None):
    return {"_id": token(t, i, oid), "operationType": op,
            "clusterTime": {"$timestamp": {"t": t, "i": i}}, "wallTime": date(t, rng.randint(0, 999))}


NS = {"db": "finance", "coll": "expenses"}


def emit_insert(doc):
    t, i = tick()
    e = header("insert", t, i, doc["_id"]["$oid"])
    e.update({"fullDocument": doc, "ns": NS, "documentKey": {"_id": doc["_id"]}})
    events.append(e)


NOW = "now"


def stamp(changes, t):
    """Replaces NOW placeholders with the event's own time."""
    return {k: (date(t) if v is NOW else v) for k, v in changes.items()}


def emit_update(doc, changes, removed=(), txn=None):
    t, i = tick()
    changes = stamp(changes, t)
    doc.update(changes)
    for f in removed:
        doc.pop(f, None)
    e = header("update", t, i, doc["_id"]["$oid"])
    if txn:
        e["lsid"] = txn["lsid"]
        e["txnNumber"] = {"$numberLong": str(txn["n"])}
    e.update({"fullDocument": json.loads(json.dumps(doc)), "ns": NS, "documentKey": {"_id": doc["_id"]},
              "updateDescription": {"updatedFields": changes, "removedFields": list(removed), "truncatedArrays": []}})
    events.append(e)


def emit_replace(doc):
    t, i = tick()
    e = header("replace", t, i, doc["_id"]["$oid"])
    e.update({"fullDocument": json.loads(json.dumps(doc)), "ns": NS, "documentKey": {"_id": doc["_id"]}})
    events.append(e)


def emit_delete(doc):
    t, i = tick()
    e = header("delete", t, i, doc["_id"]["$oid"])
    e.update({"ns": NS, "documentKey": {"_id": doc["_id"]}})
    events.append(e)


def oid():
    """An ObjectId as the driver makes them: creation time, then random and counter bytes."""
    return {"$oid": f"{clock['t']:08x}{rng.getrandbits(64):016x}"}


def amount(cat):
    _, lo, hi = cat
    # Most claims are small; a third are large enough to need approval.
    value = rng.uniform(lo, hi) if rng.random() < 0.45 else rng.uniform(lo, min(hi, 999))
    return {"$numberDecimal": f"{value:.2f}"}


def new_expense(n):
    name, email, approver = rng.choice(EMPLOYEES)
    cat = rng.choice(CATEGORIES)
    submitted = rng.random() < 0.75
    return {
        "_id": oid(), "employee": name, "employeeEmail": email, "approver": approver,
        "category": cat[0], "description": f"{cat[0].capitalize()} expense #{1000 + n}",
        "amount": amount(cat), "currency": rng.choice(CURRENCIES),
        "status": "pending_approval" if submitted else "draft",
        "createdAt": date(clock["t"]), "revision": 1,
    }


txn_counter = 0
docs = {}
pending = []
for n in range(110):
    doc = new_expense(n)
    docs[n] = doc
    emit_insert(json.loads(json.dumps(doc)))
    # Progress earlier expenses meanwhile, so histories interleave as in production.
    for m in list(pending):
        if rng.random() < 0.35:
            continue
        d = docs[m]
        roll = rng.random()
        if d["status"] == "draft":
            if roll < 0.15:
                emit_delete(d)
                pending.remove(m)
            elif roll < 0.35:
                d = dict(d, description=d["description"] + " (corrected)", revision=d["revision"] + 1,
                         amount=amount(rng.choice(CATEGORIES)))
                docs[m] = d
                emit_replace(d)
            else:
                emit_update(d, {"status": "pending_approval", "submittedAt": NOW})
        elif d["status"] == "pending_approval":
            if roll < 0.7:
                emit_update(d, {"status": "approved", "decidedBy": d["approver"], "decidedAt": NOW})
            elif roll < 0.9:
                emit_update(d, {"status": "rejected", "decidedBy": d["approver"], "decidedAt": NOW,
                                "reason": rng.choice(["missing receipt", "over policy limit", "duplicate claim"])})
            else:
                emit_update(d, {"note": "receipt attached", "revision": d["revision"] + 1})
        elif d["status"] == "approved":
            txn_counter += 1
            txn = {"lsid": {"id": {"$binary": {"base64": "k5Fb4hnxQbKXL2b0xq0T3g==", "subType": "04"}},
                            "uid": {"$binary": {"base64": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "subType": "00"}}},
                   "n": txn_counter}
            emit_update(d, {"status": "paid", "paidAt": NOW}, removed=["note"] if "note" in d else [], txn=txn)
            pending.remove(m)
        elif d["status"] == "rejected":
            if roll < 0.3:
                emit_delete(d)
            pending.remove(m)
    pending.append(n)

# A long weekend: nobody decides for 60 hours, so expenses still pending reach their
# 48-hour escalation (expense_approval's timers fire before the late decisions).
clock["t"] += 60 * 3600
for m in list(pending):
    d = docs[m]
    if d["status"] == "pending_approval":
        emit_update(d, {"status": "approved", "decidedBy": d["approver"], "decidedAt": NOW})

# End of the quarter: the collection is dropped (archived elsewhere), which invalidates the stream.
t, i = tick()
drop = header("drop", t, i)
drop["ns"] = NS
events.append(drop)
t, i = tick()
events.append(header("invalidate", t, i))

for e in events:
    print(json.dumps(e, separators=(",", ":")))
