
ods20260511-000001€ˆ¼ùà3R
Y59
South East#FRAME#
ods20260511-000002€ˆ¼ùà3R.
QNX NHS Sussex Integrated Care Board"Y59#FRAME#
ods20260511-000003€ˆ¼ùà3R%
09DBrighton and Hove place"QNX#FRAME#
ods20260511-000004€ˆ¼ùà3R.
	E10000011East Sussex County Council"QNX#FRAME#
ods20260511-000005€ˆ¼ùà3R.
	E10000032West Sussex County Council"QNX#FRAME#
ods20260511-000006€ˆ¼ùà3R4
	E06000043 Brighton and Hove County Council"QNX#FRAME#
ods20260511-000007€ˆ¼ùà3R
RXCProvider RXC"QNX#FRAME#
ods20260511-000008€ˆ¼ùà3R
RXC01
Site RXC01"RXC#FRAME#
ods20260511-000009€ˆ¼ùà3R
RXC02
Site RXC02"RXC#FRAME#
ods20260511-000010€ˆ¼ùà3R
RYRProvider RYR"QNX#FRAME#
ods20260511-000011€ˆ¼ùà3R
RYR16
Site RYR16"RYR#FRAME#
ods20260511-000012€ˆ¼ùà3R
RYR18
Site RYR18"RYR#FRAME#
ods20260511-000013€ˆ¼ùà3R
RPCProvider RPC"QNX#FRAME#
ods20260511-000014€ˆ¼ùà3R
RPC01
Site RPC01"RPC#FRAME#
ods20260511-000015€ˆ¼ùà3R
NMJProvider NMJ"QNX#FRAME#
ods20260511-000016€ˆ¼ùà3R
NMJ01
Site NMJ01"NMJ