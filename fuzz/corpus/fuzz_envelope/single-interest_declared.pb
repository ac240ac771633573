

governance20260511-000028€γω α3ΪS
DOI-2025-003S200Director of Adult Social Care"	E10000011(2NMJ01:
2025-06-01