"""HLA typing, antigen equivalences, antibodies and sensitisation."""
