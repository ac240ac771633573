/*
 * ids: the formats of the identifiers DOMAIN.md lists (NHS number, ODS and
 * ONS organisation codes, CQC locations) and of pseudonyms. Pure.
 */
#ifndef IDS_H
#define IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The kinds of organisation code, as bits. A code may fit several kinds
 * (RXC01 is a site and a sub-ICB location by format): the field it sits in
 * decides which kinds it may be (DOMAIN.md, Edges, settled).
 */
enum ids_kind {
	IDS_KIND_REGION = 1u << 0,		  /* Y[0-9]{2} */
	IDS_KIND_ICB = 1u << 1,			  /* Q[A-Z0-9]{2} */
	IDS_KIND_SUB_ICB = 1u << 2,		  /* [0-9]{2}[A-Z], [A-Z][A-Z0-9]{4} */
	IDS_KIND_TRUST = 1u << 3,		  /* R or T, [A-Z0-9]{2} */
	IDS_KIND_SITE = 1u << 4,		  /* a trust's or N-code's code + 2 */
	IDS_KIND_GP_PRACTICE = 1u << 5,		  /* [A-Z][0-9]{5} */
	IDS_KIND_INDEPENDENT_PROVIDER = 1u << 6,  /* N[A-Z0-9]{2}, [0-9][A-Z0-9]{4} */
	IDS_KIND_LOCAL_AUTHORITY = 1u << 7,	  /* E0[6-9][0-9]{6}, E10[0-9]{6} */
	IDS_KIND_CARE_HOME = 1u << 8,		  /* 1-[0-9]{9,11} */
};

/* What each kind of field accepts (DOMAIN.md, What is REJECTED; Edges). */
#define IDS_KINDS_COMMISSIONER \
	(IDS_KIND_ICB | IDS_KIND_SUB_ICB | IDS_KIND_LOCAL_AUTHORITY)
/* Admissions and ready-for-discharge reports come from these. */
#define IDS_KINDS_HOSPITAL_PROVIDER \
	(IDS_KIND_TRUST | IDS_KIND_INDEPENDENT_PROVIDER)
/* A service's or contract's provider, a capacity line's organisation. */
#define IDS_KINDS_CARE_PROVIDER                                      \
	(IDS_KIND_TRUST | IDS_KIND_SITE | IDS_KIND_INDEPENDENT_PROVIDER | \
	    IDS_KIND_CARE_HOME)
#define IDS_KINDS_ANY_ORGANISATION                                     \
	(IDS_KIND_REGION | IDS_KIND_ICB | IDS_KIND_SUB_ICB | IDS_KIND_TRUST | \
	    IDS_KIND_SITE | IDS_KIND_GP_PRACTICE |                          \
	    IDS_KIND_INDEPENDENT_PROVIDER | IDS_KIND_LOCAL_AUTHORITY |      \
	    IDS_KIND_CARE_HOME)

/* Pseudonyms are BLAKE2b-256 keyed hashes: 32 bytes on the wire. */
#define IDS_PSEUDONYM_BYTES 32
#define IDS_NHS_NUMBER_DIGITS 10

/* Every kind whose format code fits, as a mask; 0 when none (or NULL). */
unsigned ids_kinds_of(const char *code);

/* Does code fit at least one of kinds? */
bool ids_is_kind(const char *code, unsigned kinds);

/*
 * A phrase naming one kind, for reasons: "an ICB", "a local authority (ONS
 * GSS code)"; "an organisation" for a mask of none or several kinds.
 */
const char *ids_kind_name(unsigned kind);

/*
 * Write the kinds of a mask as one phrase: "an ICB, a sub-ICB location or a
 * local authority (ONS GSS code)". Return 0, or -ENOSPC when it was cut.
 */
int ids_format_kinds(unsigned kinds, char *buf, size_t size);

bool ids_is_region(const char *code);
bool ids_is_icb(const char *code);
bool ids_is_sub_icb(const char *code);
bool ids_is_trust(const char *code);	   /* NHS trust or care trust */
bool ids_is_site(const char *code);	   /* of a trust or N-code provider */
bool ids_is_gp_practice(const char *code);
bool ids_is_independent_provider(const char *code); /* both frames */
bool ids_is_older_frame_provider(const char *code); /* [0-9][A-Z0-9]{4} */
bool ids_is_local_authority(const char *code);
bool ids_is_care_home(const char *code);

/*
 * Is site a site of provider? A trust's or N-code provider's sites are its
 * code plus two characters (RXC -> RXC01); a provider in the older frame
 * (8HA03) is its own and only site.
 */
bool ids_is_site_of(const char *site, const char *provider);

/*
 * The modulus 11 check digit of the first nine digits of an NHS number
 * (weights 10..2; 11 - (sum mod 11), where 11 means 0): 0-9, or -1 when
 * the remainder gives 10 (no valid number has those nine digits) or the
 * text is not nine digits.
 */
int ids_nhs_number_check_digit(const char *first_nine);

/* Exactly ten digits whose last is the check digit of the first nine. */
bool ids_is_nhs_number(const char *text);

/* A valid NHS number in the never-issued test range 999 000 0000-9999. */
bool ids_is_test_nhs_number(const char *text);

/* A pseudonym is exactly IDS_PSEUDONYM_BYTES bytes (any bytes). */
bool ids_is_pseudonym(const uint8_t *data, size_t len);

#endif
