
ods20260511-000001Ђ€јща3R
Y59
South East#FRAME#
ods20260511-000001Ѓ€јща3R
Y59
South East