"""A short story through the Python client that openapi-python-client
generates from openapi/openapi.json, against a live server: log in, admit
a patient, write a care log, page through a list, read a problem+json
error. Run by .ci/sdks: python story.py BASE_URL (CAREGO_DEMO_PASSWORD set).
"""

import datetime
import os
import sys
import uuid

from carego_api_client import AuthenticatedClient, Client
from carego_api_client.api.auth import login
from carego_api_client.api.care_logs import create_care_log, list_care_logs
from carego_api_client.api.patients import create_patient, get_patient, list_patients
from carego_api_client.models import (
    CareLogKind,
    LoginRequest,
    NewCareLogRequest,
    NewPatientRequest,
    Problem,
)
from carego_api_client.types import UNSET


def main(base: str) -> None:
    password = os.environ["CAREGO_DEMO_PASSWORD"]
    signed_in = login.sync_detailed(
        client=Client(base_url=base),
        body=LoginRequest(email="admin@sunrise.example", password=password),
    )
    assert signed_in.status_code == 200, signed_in.content
    me = signed_in.parsed.user
    client = AuthenticatedClient(base_url=base, token=signed_in.parsed.access_token)

    admitted = create_patient.sync_detailed(
        client=client,
        body=NewPatientRequest(first_name="Priya", last_name="Python", date_of_birth=datetime.date(1991, 4, 2)),
        idempotency_key=str(uuid.uuid4()),
    )
    assert admitted.status_code == 201, admitted.content
    patient = admitted.parsed.patient
    assert admitted.parsed.registration_key, "the registration key is shown once"

    written = create_care_log.sync_detailed(
        patient.id,
        client=client,
        body=NewCareLogRequest(kind=CareLogKind.OBSERVATION, body="Admitted; written by the Python SDK story."),
    )
    assert written.status_code == 201, written.content
    assert written.parsed.original.author_id == me.id
    logs = list_care_logs.sync(patient.id, client=client)
    assert [log.id for log in logs.items] == [written.parsed.id]

    seen, pages, cursor = [], 0, UNSET
    while True:
        page = list_patients.sync(client=client, limit=2, cursor=cursor)
        seen += [p.id for p in page.items]
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert pages >= 2, pages
    assert len(seen) == len(set(seen)), "no patient on two pages"
    assert patient.id in seen

    missing = get_patient.sync_detailed(uuid.uuid4(), client=client)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, Problem), missing.content
    assert missing.parsed.code == "not_found" and missing.parsed.status == 404
    assert missing.headers["content-type"] == "application/problem+json"
    print(f"python sdk: story passed ({len(seen)} patients over {pages} pages)")


if __name__ == "__main__":
    main(sys.argv[1])
