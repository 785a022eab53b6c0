"""The review step before publication: a local web app to check and correct masks (``legal-anon review``)."""
