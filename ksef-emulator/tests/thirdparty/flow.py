"""Third-party proof: the PyPI package `ksef-client` (unmodified) against ksef-emulator.

Usage: flow.py BASE_URL STORAGE_HOST TEMPLATE_PATH
Only the base URL and the pre-signed-URL policy options are set. Exits non-zero on any failure.
"""
import base64
import datetime as dt
import io
import random
import sys
import time
import zipfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ksef_client import KsefClient, KsefClientOptions
from ksef_client import models as m
from ksef_client.services.crypto import build_encryption_data
from ksef_client.services.workflows import (
    AuthCoordinator,
    BatchSessionWorkflow,
    ExportWorkflow,
    OnlineSessionWorkflow,
)

BASE, STORAGE_HOST, TEMPLATE = sys.argv[1], sys.argv[2], sys.argv[3]


def step(msg):
    print(f"[flow] {msg}", flush=True)


def nip():
    w = [6, 5, 7, 2, 3, 4, 5, 6, 7]
    while True:
        d = [random.randint(1, 9)] + [random.randint(0, 9) for _ in range(8)]
        c = sum(a * b for a, b in zip(w, d)) % 11
        if c != 10:
            return "".join(map(str, d)) + str(c)


def self_signed(nip_value):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "Jan Testowy"),
        x509.NameAttribute(NameOID.GIVEN_NAME, "Jan"),
        x509.NameAttribute(NameOID.SURNAME, "Testowy"),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, f"TINPL-{nip_value}"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
    ])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()).decode(),
    )


def invoice(seller, number):
    with open(TEMPLATE, encoding="utf-8") as f:
        xml = f.read()
    return xml.replace("#nip#", seller).replace("#invoice_number#", number).encode("utf-8")


def poll(fn, done, what, attempts=60):
    for _ in range(attempts):
        r = fn()
        if done(r):
            return r
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}: {r}")


def main():
    options = KsefClientOptions(
        base_url=BASE,
        allowed_presigned_hosts=[STORAGE_HOST],
        allow_private_network_presigned_urls=True,
        strict_presigned_url_validation=False,  # the emulator serves http, not https
    )
    seller = nip()
    fa3 = m.FormCode.from_dict({"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"})
    with KsefClient(options) as client:
        step(f"create test subject {seller}")
        client.testdata.create_subject(m.SubjectCreateRequest.from_dict(
            {"subjectNip": seller, "subjectType": "EnforcementAuthority", "description": "third-party proof"}))

        step("XAdES authentication with a self-signed certificate (serialNumber TINPL-<nip>)")
        cert_pem, key_pem = self_signed(seller)
        auth = AuthCoordinator(client.auth).authenticate_with_xades(
            context_identifier_type="nip", context_identifier_value=seller,
            subject_identifier_type="certificateSubject",
            certificate_pem=cert_pem, private_key_pem=key_pem, poll_interval_seconds=0.2)
        token = auth.access_token
        assert token and auth.refresh_token

        certs = client.security.get_public_key_certificates()
        sym = next(c for c in certs if any(getattr(u, "value", u) == "SymmetricKeyEncryption" for u in c.usage))
        sym_pem = "-----BEGIN CERTIFICATE-----\n" + sym.certificate + "\n-----END CERTIFICATE-----\n"

        step("online session: open, send an FA(3) invoice, close")
        online = OnlineSessionWorkflow(client.sessions)
        handle = online.open_session(form_code=fa3, public_certificate=sym_pem, access_token=token)
        sent = online.send_invoice(session_reference_number=handle.reference_number,
                                   invoice_xml=invoice(seller, "FV/PY/1"),
                                   encryption_data=handle.encryption_data, access_token=token)
        st = poll(lambda: client.sessions.get_session_invoice_status(
            handle.reference_number, sent.reference_number, access_token=token),
            lambda s: s.status.code != 150 and s.status.code != 100, "invoice status")
        assert st.status.code == 200, st
        ksef_number = st.ksef_number
        step(f"invoice accepted: {ksef_number}")
        upo = client.sessions.get_session_invoice_upo_by_ksef(handle.reference_number, ksef_number,
                                                              access_token=token)
        assert ksef_number.encode() in upo, upo[:300]
        online.close_session(handle.reference_number, token)
        s = poll(lambda: client.sessions.get_session_status(handle.reference_number, access_token=token),
                 lambda s: s.status.code not in (100, 170), "online session close")
        assert s.status.code == 200, s
        step("online session closed with status 200, UPO retrieved")

        step("batch session: ZIP of 3 invoices, upload parts to pre-signed URLs, close")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for i in range(3):
                z.writestr(f"inv{i}.xml", invoice(seller, f"FV/PY/B{i}"))
        batch = BatchSessionWorkflow(client.sessions, client.http_client)
        ref = batch.open_upload_and_close(form_code=fa3, zip_bytes=buf.getvalue(),
                                          public_certificate=sym_pem, access_token=token)
        s = poll(lambda: client.sessions.get_session_status(ref, access_token=token),
                 lambda s: s.status.code not in (100, 150, 170), "batch session")
        assert s.status.code == 200, s
        inv = client.sessions.get_session_invoices(ref, access_token=token)
        assert len(inv.invoices) == 3 and all(i.status.code == 200 for i in inv.invoices), inv
        step(f"batch processed: {[i.ksef_number for i in inv.invoices]}")

        step("metadata query")
        now = dt.datetime.now(dt.timezone.utc)
        frm = (now - dt.timedelta(days=1)).isoformat(timespec="seconds")
        filters = {"subjectType": "Subject1",
                   "dateRange": {"dateType": "PermanentStorage", "from": frm}}
        md = client.invoices.query_invoice_metadata(m.InvoiceQueryFilters.from_dict(filters),
                                                    access_token=token)
        numbers = {i.ksef_number for i in md.invoices}
        assert ksef_number in numbers and len(numbers) == 4, numbers

        step("export: request, poll, download, decrypt, unpack")
        enc = build_encryption_data(sym_pem)
        req = m.InvoiceExportRequest(encryption=enc.encryption_info,
                                     filters=m.InvoiceQueryFilters.from_dict(filters))
        exp = client.invoices.export_invoices(req, access_token=token)
        es = poll(lambda: client.invoices.get_export_status(exp.reference_number, access_token=token),
                  lambda s: s.status.code != 100, "export")
        assert es.status.code == 200, es
        result = ExportWorkflow(client.invoices, client.http_client).download_and_process_package(
            es.package, enc)
        assert len(result.invoice_xml_files) == 4, list(result.invoice_xml_files)
        assert any(ksef_number in name for name in result.invoice_xml_files), list(result.invoice_xml_files)
        step(f"export decrypted: {sorted(result.invoice_xml_files)}")
    print("THIRD-PARTY FLOW OK", flush=True)


if __name__ == "__main__":
    main()
