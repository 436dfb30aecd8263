"""Find, export and anonymise the personal data held about one consumer, by e-mail address.

Inventory of the consumer's personal data (what each service below covers):

- ``customer_order`` (:class:`~erp.orders.models.CustomerOrder`), matched on ``email``
  (trimmed, case-insensitive): ``customer_name``, ``email``, ``phone``, ``ship_name``,
  ``address1``, ``address2``, ``city``, ``region``, ``postal_code``, ``buyer_tax_id``, ``notes``
  (the customer's), and staff free text that may quote them (``hold_reason``,
  ``cancel_reason``). ``country`` is kept: customs and sales statistics need it. Replacement
  orders copy the original's contact and address, so they match on the same e-mail.
- ``customer_order_line``: no personal data (SKU, quantity, price); exported, never changed.
- ``parcel`` / ``parcel_line``: no copy of the addressee. Labels, CN22/CN23, commercial
  invoices and carrier manifests are rendered from the order when printed, so they follow the
  anonymised order; the customs lines, tracking numbers and ``void_reason`` are kept.
- ``aftersales_case``, matched on ``contact_email`` or on belonging to a matched order:
  ``contact_name``, ``contact_email``, ``contact_phone``, and staff free text that may quote
  them (``resolution``, ``rejection_reason``, ``window_override_note``). ``return_tracking``
  (the carrier's number) is kept.
- ``case_note``: the case's messages (``body``), replaced by a placeholder; author and time kept.
- ``case_attachment``: photos and documents the customer sent (``filename``, ``data``): deleted
  on anonymisation (exported as metadata only: name, type, size).
- ``return_item``: ``description`` and ``inspection_note`` (staff text, scrubbed).
- ``refund``: ``note`` (cleared); amounts, states and dates kept.
- ``audit_event``: ``changes`` of the events about those orders, parcels, cases and refunds
  (address edits hold old and new addresses, contact edits names, e-mails and phones,
  attachments their file names, transition notes free text) and any other event whose
  ``changes`` contain the e-mail: the personal values are replaced by ``[anonymised]``.
- Not consumer data, left alone: ``user`` (staff), ``supplier`` and ``warehouse`` addresses
  (businesses), ``background_job`` (report parameters are dates; report files on disk are
  removed by ``erp.core.jobs.cleanup`` after their retention period), ``pick_wave.filters``.

The stock ledger, order lines, amounts, parcels' customs lines and tracking numbers are never
touched. Anonymisation is audited (``privacy.anonymised``) under a salted hash of the e-mail,
never the e-mail itself.

Modules: ``subject`` (lookup, counts, what still needs the data), ``export`` (JSON, Excel) and
``anonymise``; this package re-exports their public functions.
"""

from erp.privacy.services.anonymise import AnonymiseResult, anonymise_subject
from erp.privacy.services.export import (
    export_subject,
    export_subject_json,
    export_subject_xlsx,
    log_export,
)
from erp.privacy.services.subject import (
    ANONYMISED_NAME,
    FIELDS,
    KINDS,
    REDACTED,
    PrivacyError,
    SubjectSummary,
    find_subject,
    normalise_email,
    subject_hash,
)

__all__ = ["ANONYMISED_NAME", "FIELDS", "KINDS", "REDACTED", "AnonymiseResult", "PrivacyError",
           "SubjectSummary", "anonymise_subject", "export_subject", "export_subject_json",
           "export_subject_xlsx", "find_subject", "log_export", "normalise_email",
           "subject_hash"]
