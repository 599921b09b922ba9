"""Oracle Cloud Infrastructure: its bills only (cost and FOCUS reports in Object Storage).

WedCloud has no compute adapter for OCI: a provider of kind ``oci`` is registered for its
bills, which ``billing.OciReportSource`` reads through Object Storage's S3-compatible API.
"""
