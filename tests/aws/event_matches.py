"""Which EventBridge patterns match which events, as moto's EventBridge decides.

moto has no TestEventPattern, so each pattern becomes a rule on the default bus with an
SQS queue as its target; each event is sent with PutEvents and the queues say which rules
fired. Reads {"patterns": [...], "events": [...]} (events as EventBridge delivers them)
on standard input; prints a JSON list holding, per event, the indexes of the patterns
that matched it. Everything it creates is deleted. Needs AWS_ENDPOINT_URL (moto).
"""

import json
import sys
import uuid

import boto3


def main() -> None:
    data = json.load(sys.stdin)
    events = boto3.client("events")
    sqs = boto3.client("sqs")
    tag = uuid.uuid4().hex[:8]
    rules = []
    try:
        for i, pattern in enumerate(data["patterns"]):
            name = f"rotgen-test-{tag}-{i}"
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
            events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
            events.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": arn}])
            rules.append((name, url))
        verdicts = []
        for event in data["events"]:
            out = events.put_events(
                Entries=[
                    {
                        "Source": event["source"],
                        "DetailType": event["detail-type"],
                        "Detail": json.dumps(event["detail"]),
                        "Resources": event.get("resources", []),
                    }
                ]
            )
            assert out["FailedEntryCount"] == 0, out
            hit = []
            for i, (_, url) in enumerate(rules):
                got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
                messages = got.get("Messages", [])
                for m in messages:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                if messages:
                    hit.append(i)
            verdicts.append(hit)
        print(json.dumps(verdicts))
    finally:
        for name, url in rules:
            events.remove_targets(Rule=name, Ids=["q"])
            events.delete_rule(Name=name)
            sqs.delete_queue(QueueUrl=url)


if __name__ == "__main__":
    main()
