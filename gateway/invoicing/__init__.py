"""E-invoices: the EN 16931 model (:mod:`.document`), its syntaxes (:mod:`.ubl`, :mod:`.cii`), the Factur-X PDF
(:mod:`.pdf`), XSD validation (:mod:`.schemas`) and the business-rule check (:mod:`.rules`). Pure: no database."""
