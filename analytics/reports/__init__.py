"""Cost reports: one self-contained HTML page with inline SVG charts, and a CSV per table.

Why it is built this way:

- A report travels: an email attachment, a bucket, a share without internet. So the page
  loads nothing: inline CSS, charts drawn here as SVG, and a Content-Security-Policy that
  forbids every fetch and every script, so no URL in the data can make a viewer phone home.
- Every chart has a table of its figures, for screen readers and for people who copy
  numbers. The CSVs are written from the very same table rows, so HTML and CSV cannot
  disagree.
- Money is Decimal and rounded once, for display, with :func:`analytics.money.format_amount`
  (cents, half up) and always next to its currency; currencies are never added together.
  Forecasts are float estimates (see :mod:`analytics.forecast`), rounded the same way.
- The output depends on the input only (no clock, no random ids, fixed ordering), so two
  renders of the same data are byte-identical and can be compared and diffed.

One module per role: :mod:`~analytics.reports.model` (the data the report shows),
:mod:`~analytics.reports.data` (reading it from a serving snapshot),
:mod:`~analytics.reports.tables` (formatting, the tables and the CSVs),
:mod:`~analytics.reports.charts` (the SVG charts) and :mod:`~analytics.reports.page` (the HTML).
"""
