"""The moto server the test suite runs, with DynamoDB requests served one at a time.

DynamoDB checks a write's condition expression and applies the write as one step: of two
concurrent `PutItem` calls with `attribute_not_exists(pk)`, exactly one succeeds ("Condition
expressions", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html).
The idempotency claim and the token lease rely on that. moto 5.2.5 serves each request on its
own thread and, in `Table.put_item`, reads the current item, evaluates the condition and
stores the new item without a lock, so two concurrent claims can both succeed there. This
launcher holds one lock around each DynamoDB request, which gives moto the atomicity DynamoDB
documents; other services (SQS long polls among them) stay concurrent.

Usage: python moto_server.py -H 127.0.0.1 -p PORT (the arguments of `moto_server`).
"""

import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _serialized_call_action(self):
    with _lock:
        return _call_action(self)


DynamoHandler.call_action = _serialized_call_action

if __name__ == "__main__":
    sys.exit(main())
