/*
 * ids: format checks for NHS numbers, organisation codes (ODS, ONS GSS,
 * CQC) and pseudonyms; which kinds a code could be; sites of providers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ids.h"

/* Codes are upper case: ODS and ONS publish them so, and so do we. */
static bool
ids_is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool
ids_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
ids_is_alnum(char c)
{
	return ids_is_upper(c) || ids_is_digit(c);
}

static bool
ids_all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!ids_is_digit(s[i]))
			return false;
	return true;
}

static bool
ids_all_alnum(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!ids_is_alnum(s[i]))
			return false;
	return true;
}

/* A letter then two of [A-Z0-9]: the three-character ODS frame. */
static bool
ids_is_three(const char *code, char first)
{
	return code != NULL && strlen(code) == 3 && code[0] == first &&
	    ids_all_alnum(code + 1, 2);
}

bool
ids_is_region(const char *code)
{
	return code != NULL && strlen(code) == 3 && code[0] == 'Y' &&
	    ids_all_digits(code + 1, 2);
}

bool
ids_is_icb(const char *code)
{
	return ids_is_three(code, 'Q');
}

bool
ids_is_sub_icb(const char *code)
{
	size_t len;

	if (code == NULL)
		return false;
	len = strlen(code);
	/* 02P, 99E; or the five-character codes of merged CCGs (D4U1Y). */
	if (len == 3)
		return ids_all_digits(code, 2) && ids_is_upper(code[2]);
	if (len == 5)
		return ids_is_upper(code[0]) && ids_all_alnum(code + 1, 4);
	return false;
}

bool
ids_is_trust(const char *code)
{
	return ids_is_three(code, 'R') || ids_is_three(code, 'T');
}

/* A provider that has sites of its own: a trust, care trust or N-code. */
static bool
ids_is_provider_with_sites(const char *code)
{
	return ids_is_trust(code) || ids_is_three(code, 'N');
}

bool
ids_is_site(const char *code)
{
	char provider[4];

	if (code == NULL || strlen(code) != 5 || !ids_all_alnum(code, 5))
		return false;
	memcpy(provider, code, 3);
	provider[3] = '\0';
	return ids_is_provider_with_sites(provider);
}

bool
ids_is_gp_practice(const char *code)
{
	return code != NULL && strlen(code) == 6 && ids_is_upper(code[0]) &&
	    ids_all_digits(code + 1, 5);
}

bool
ids_is_older_frame_provider(const char *code)
{
	return code != NULL && strlen(code) == 5 && ids_is_digit(code[0]) &&
	    ids_all_alnum(code + 1, 4);
}

bool
ids_is_independent_provider(const char *code)
{
	return ids_is_three(code, 'N') || ids_is_older_frame_provider(code);
}

bool
ids_is_local_authority(const char *code)
{
	if (code == NULL || strlen(code) != 9 || code[0] != 'E')
		return false;
	/* E06 unitary, E07 district, E08 metropolitan, E09 London, E10 county. */
	if (code[1] == '0' && code[2] >= '6' && code[2] <= '9')
		return ids_all_digits(code + 3, 6);
	if (code[1] == '1' && code[2] == '0')
		return ids_all_digits(code + 3, 6);
	return false;
}

bool
ids_is_care_home(const char *code)
{
	size_t len;

	if (code == NULL)
		return false;
	len = strlen(code);
	/* "1-" and nine to eleven digits. */
	return len >= 11 && len <= 13 && code[0] == '1' && code[1] == '-' &&
	    ids_all_digits(code + 2, len - 2);
}

static const struct ids_kind_row {
	enum ids_kind kind;
	bool (*fits)(const char *);
	const char *name;
} ids_kind_rows[] = {
	{ IDS_KIND_REGION, ids_is_region, "a region" },
	{ IDS_KIND_ICB, ids_is_icb, "an ICB" },
	{ IDS_KIND_SUB_ICB, ids_is_sub_icb, "a sub-ICB location" },
	{ IDS_KIND_TRUST, ids_is_trust, "a trust (NHS or care trust)" },
	{ IDS_KIND_SITE, ids_is_site, "a provider's site" },
	{ IDS_KIND_GP_PRACTICE, ids_is_gp_practice, "a GP practice" },
	{ IDS_KIND_INDEPENDENT_PROVIDER, ids_is_independent_provider,
	    "an independent provider" },
	{ IDS_KIND_LOCAL_AUTHORITY, ids_is_local_authority,
	    "a local authority (ONS GSS code)" },
	{ IDS_KIND_CARE_HOME, ids_is_care_home,
	    "a care home (CQC location)" },
};

#define IDS_KIND_ROWS (sizeof(ids_kind_rows) / sizeof(ids_kind_rows[0]))

unsigned
ids_kinds_of(const char *code)
{
	unsigned kinds = 0;

	if (code == NULL)
		return 0;
	for (size_t i = 0; i < IDS_KIND_ROWS; i++)
		if (ids_kind_rows[i].fits(code))
			kinds |= ids_kind_rows[i].kind;
	return kinds;
}

bool
ids_is_kind(const char *code, unsigned kinds)
{
	return (ids_kinds_of(code) & kinds) != 0;
}

const char *
ids_kind_name(unsigned kind)
{
	for (size_t i = 0; i < IDS_KIND_ROWS; i++)
		if (ids_kind_rows[i].kind == kind)
			return ids_kind_rows[i].name;
	return "an organisation";
}

int
ids_format_kinds(unsigned kinds, char *buf, size_t size)
{
	size_t left = 0, used = 0;
	int n;

	for (size_t i = 0; i < IDS_KIND_ROWS; i++)
		if (kinds & ids_kind_rows[i].kind)
			left++;
	/* Every kind, or none known: the one phrase says it better. */
	if (left == 0 || left == IDS_KIND_ROWS) {
		n = snprintf(buf, size, "%s", left == 0 ? ids_kind_name(0) :
		    "an organisation of any kind");
		return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
	}
	for (size_t i = 0; i < IDS_KIND_ROWS; i++) {
		const char *separator;

		if (!(kinds & ids_kind_rows[i].kind))
			continue;
		separator = used == 0 ? "" : left == 1 ? " or " : ", ";
		n = snprintf(buf + used, size - used, "%s%s", separator,
		    ids_kind_rows[i].name);
		if (n < 0 || (size_t)n >= size - used)
			return -ENOSPC;
		used += (size_t)n;
		left--;
	}
	return 0;
}

bool
ids_is_site_of(const char *site, const char *provider)
{
	if (site == NULL || provider == NULL)
		return false;
	if (ids_is_older_frame_provider(provider))
		return strcmp(site, provider) == 0;
	return ids_is_provider_with_sites(provider) && ids_is_site(site) &&
	    strncmp(site, provider, 3) == 0;
}

int
ids_nhs_number_check_digit(const char *first_nine)
{
	int sum = 0, check;

	if (first_nine == NULL)
		return -1;
	for (int i = 0; i < 9; i++) {
		if (!ids_is_digit(first_nine[i]))
			return -1;
		sum += (first_nine[i] - '0') * (10 - i);
	}
	check = 11 - sum % 11;
	if (check == 11)
		return 0;
	if (check == 10)
		return -1;
	return check;
}

bool
ids_is_nhs_number(const char *text)
{
	int check;

	if (text == NULL || strlen(text) != IDS_NHS_NUMBER_DIGITS ||
	    !ids_all_digits(text, IDS_NHS_NUMBER_DIGITS))
		return false;
	check = ids_nhs_number_check_digit(text);
	return check >= 0 && text[9] - '0' == check;
}

bool
ids_is_test_nhs_number(const char *text)
{
	return ids_is_nhs_number(text) && strncmp(text, "999", 3) == 0;
}

bool
ids_is_pseudonym(const uint8_t *data, size_t len)
{
	return data != NULL && len == IDS_PSEUDONYM_BYTES;
}
