"""The banking half of the gateway: payment instructions, SEPA pain files, the bank connector and simulator, camt
statements, references and the TARGET2 calendar (the vendored ISO 20022 XSDs are in ``xsd/``)."""
