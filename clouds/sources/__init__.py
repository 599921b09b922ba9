"""Billing sources that are not a cloud's own API: a folder of downloaded exports."""
