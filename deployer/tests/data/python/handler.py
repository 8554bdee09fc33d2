"""Handlers for the Runtime API conformance test, run by AWS's own runtime interface client
(awslambdaric): a client nobody on this team wrote, so it checks our server, not our assumptions."""

import time


def echo(event, context):
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


def fail(event, context):
    raise ValueError("deliberate failure")


def slow(event, context):
    time.sleep(10)
    return "too late"
