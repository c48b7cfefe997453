#!/usr/bin/env python3
"""Local AWS for `cargo lambda watch`: create the queues, tables and topic in a moto server,
and pump SQS messages into the watched functions the way Lambda's event source mappings do.

  python scripts/watch.py setup [--endpoint URL]
  python scripts/watch.py pump signals router [--endpoint URL] [--watch URL]
  python scripts/watch.py peek oanda [--endpoint URL]

Names match `[workspace.metadata.lambda.env]` in the root Cargo.toml. Runs with the boto3 that
moto brings (the test script's virtualenv, .venv-test). Everything stays on 127.0.0.1.
"""
import argparse
import json
import sys
import urllib.request

import boto3

QUEUES = ["signals", "oanda", "tradovate", "coinbase"]
TABLES = ["tv-idempotency", "tv-tokens", "tv-health"]
TOPIC = "tv-notify"


def clients(endpoint):
    kw = dict(endpoint_url=endpoint, region_name="us-east-1",
              aws_access_key_id="test", aws_secret_access_key="test")
    return boto3.client("sqs", **kw), boto3.client("dynamodb", **kw), boto3.client("sns", **kw)


def queue_url(sqs, name):
    return sqs.get_queue_url(QueueName=f"{name}.fifo")["QueueUrl"]


def setup(args):
    sqs, ddb, sns = clients(args.endpoint)
    for name in QUEUES:
        dlq = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        url = sqs.create_queue(QueueName=f"{name}.fifo", Attributes={
            "FifoQueue": "true",
            "VisibilityTimeout": "60",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        })["QueueUrl"]
        print(f"queue  {url}")
    existing = set(ddb.list_tables()["TableNames"])
    for table in TABLES:
        if table not in existing:
            ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        print(f"table  {table}")
    print(f"topic  {sns.create_topic(Name=TOPIC)['TopicArn']}")


def pump(args):
    """Receive from a queue and invoke a watched function with the SQS event, deleting what
    it did not report as failed, like an event source mapping with ReportBatchItemFailures."""
    sqs, _, _ = clients(args.endpoint)
    url = queue_url(sqs, args.queue)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                              AttributeNames=["All"]).get("Messages", [])
    if not got:
        print(f"{args.queue}: empty")
        return
    records = [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1",
    } for m in got]
    req = urllib.request.Request(
        f"{args.watch}/2015-03-31/functions/{args.function}/invocations",
        data=json.dumps({"Records": records}).encode(), method="POST",
        headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        answer = json.loads(resp.read() or b"{}")
    failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
    for m in got:
        if m["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    print(f"{args.function}: {len(got)} message(s), {len(failed)} reported failed")


def peek(args):
    sqs, _, _ = clients(args.endpoint)
    url = queue_url(sqs, args.queue)
    # A visibility timeout of 0 leaves the messages where they are.
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                              AttributeNames=["MessageGroupId"]).get("Messages", [])
    for m in got:
        body = json.loads(m["Body"])
        print(json.dumps({"group": m["Attributes"].get("MessageGroupId"),
                          "signal_id": body.get("signal_id"), "action": body.get("action"),
                          "instrument": body.get("instrument")}))
    if not got:
        print(f"{args.queue}: empty")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", default="http://127.0.0.1:5000", help="moto server")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("setup")
    pp = sub.add_parser("pump")
    pp.add_argument("queue", choices=QUEUES)
    pp.add_argument("function")
    pp.add_argument("--watch", default="http://127.0.0.1:9000", help="cargo lambda watch address")
    pk = sub.add_parser("peek")
    pk.add_argument("queue", choices=QUEUES)
    args = p.parse_args()
    {"setup": setup, "pump": pump, "peek": peek}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
