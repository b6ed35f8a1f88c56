"""Another official driver against mongosim: pymongo connects, writes, watches and resumes,
and reads a snapshot that later writes do not change.

    python3 pymongo_check.py mongodb://127.0.0.1:PORT/?replicaSet=rs0
"""
import sys

import pymongo

uri = sys.argv[1]
client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
coll = client.pycheck.items
coll.insert_one({"_id": 0})
with coll.watch(max_await_time_ms=200) as stream:
    coll.insert_one({"_id": 1, "v": 1})
    coll.update_one({"_id": 1}, {"$set": {"v": 2}})
    first = stream.next()
    assert first["operationType"] == "insert", first
    assert first["fullDocument"] == {"_id": 1, "v": 1}, first
    token = stream.resume_token
    second = stream.next()
    assert second["operationType"] == "update", second
    assert second["updateDescription"]["updatedFields"] == {"v": 2}, second
coll.insert_one({"_id": 2})
with coll.watch(resume_after=token, max_await_time_ms=200) as resumed:
    kinds = [resumed.next()["operationType"] for _ in range(2)]
    assert kinds == ["update", "insert"], kinds
assert coll.count_documents({}) == 3
with client.start_session(snapshot=True) as session:
    first = list(coll.find({}, session=session).sort("_id", 1))
    coll.delete_many({})
    coll.insert_one({"_id": 9})
    again = list(coll.find({}, session=session).sort("_id", 1))
    assert first == again == [{"_id": 0}, {"_id": 1, "v": 2}, {"_id": 2}], (first, again)
    piped = list(coll.aggregate([{"$replaceWith": {"k": "$$ROOT._id"}}], session=session))
    assert piped == [{"k": 0}, {"k": 1}, {"k": 2}], piped
print("pymongo", pymongo.version, "ok against", uri)
