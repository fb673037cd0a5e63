"""Baseline for the ingest benchmark: a Sensor Logger producer written the original
project's way (FastAPI + uvicorn, JSON body, each reading flattened with `_` and tagged
with messageId/sessionId/deviceId), handing every record to a null sink instead of Kafka.
Run: python3 -m uvicorn --app-dir bench/ingest producer:app --port 8001
"""
import datetime

from fastapi import FastAPI, Request

app = FastAPI()


class NullSink:
    """Stands in for the Kafka producer: takes each record, keeps a count."""

    def __init__(self):
        self.records = 0

    def send(self, topic, value):
        self.records += 1


sink = NullSink()


def flatten(d, parent_key="", sep="_"):
    items = []
    for k, v in d.items():
        key = parent_key + sep + k if parent_key else k
        if isinstance(v, dict):
            items.extend(flatten(v, key, sep).items())
        else:
            items.append((key, v))
    return dict(items)


@app.post("/phone-producer/")
async def phone_producer(request: Request):
    data = await request.json()
    for reading in data["payload"]:
        record = flatten(reading)
        record["messageId"] = data["messageId"]
        record["sessionId"] = data["sessionId"]
        record["deviceId"] = data["deviceId"]
        sink.send("smartphone-sensor-data", record)
    return {
        "messageId": data["messageId"],
        "sessionId": data["sessionId"],
        "deviceId": data["deviceId"],
        "timestamp": datetime.datetime.now().isoformat(),
    }
