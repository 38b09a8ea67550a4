"""A Google service account key made for the simulator: the JSON a Google Cloud project
hands out (type, client_email, private_key_id, private_key, token_uri), with a fresh
RSA key. The simulator is given its public half and the client email."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True, slots=True)
class SimServiceAccount:
    client_email: str
    private_key_id: str
    private_pem: str
    public_pem: str

    def key_json(self, token_uri: str) -> str:
        return json.dumps(
            {
                "type": "service_account",
                "project_id": "rollsync-sim",
                "private_key_id": self.private_key_id,
                "private_key": self.private_pem,
                "client_email": self.client_email,
                "client_id": "100000000000000000001",
                "token_uri": token_uri,
            },
            indent=2,
        )


def make_service_account(name: str = "rollsync") -> SimServiceAccount:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return SimServiceAccount(
        client_email=f"{name}@rollsync-sim.iam.gserviceaccount.com",
        private_key_id=secrets.token_hex(20),
        private_pem=private,
        public_pem=public,
    )
