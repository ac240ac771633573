
ods20260511-000001€ˆ¼ùà3R
Y59
South East#FRAME#
ods20260511-000001€ˆ¼ùà3R
Y59
South East