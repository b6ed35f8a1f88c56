"""The change-stream loop MongoDB's Python tutorials teach: herald's baseline.

Watch the collection; for each change, handle it and persist the resume
token to a file, so that a restart can resume where the loop stopped.
`herald bench` runs it on the same events as herald and prints the ratio.

    python3 pymongo_loop.py --uri URI --db DB --coll COLL --start T:I --count N --token-file F

Prints one JSON line: {"events": N, "seconds": S}, timed from opening the
stream to the N-th change.
"""

import argparse
import json
import sys
import time

from bson import Timestamp, json_util
from pymongo import MongoClient

DEADLINE_SECONDS = 600


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--coll", required=True)
    parser.add_argument("--start", required=True, help="operation time T:I")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--token-file", required=True)
    args = parser.parse_args()

    seconds, increment = (int(part) for part in args.start.split(":"))
    collection = MongoClient(args.uri)[args.db][args.coll]
    seen = 0
    started = time.perf_counter()
    with collection.watch(start_at_operation_time=Timestamp(seconds, increment)) as stream:
        while seen < args.count:
            change = stream.try_next()
            if change is None:
                if time.perf_counter() - started > DEADLINE_SECONDS:
                    sys.exit(f"timed out after {seen} of {args.count} changes")
                continue
            seen += 1
            # The application's handling of `change` would go here.
            with open(args.token_file, "w") as token_file:
                token_file.write(json_util.dumps(stream.resume_token))
    elapsed = time.perf_counter() - started
    print(json.dumps({"events": seen, "seconds": elapsed}))


if __name__ == "__main__":
    main()
