/*
 * privilege: commissiond never runs as root by accident. Started as root
 * it switches for good to [daemon] user (initgroups, setgid, setuid, then
 * checks that root cannot be had back), or runs on as root only when
 * [daemon] allow_root says so; otherwise it refuses to start.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commissiond.h"
#include "log.h"

static int
privilege_lookup(const char *user, struct passwd *pw, char *buf, size_t buflen, char *err,
    size_t errlen)
{
	struct passwd *found = NULL;
	int rc = getpwnam_r(user, pw, buf, buflen, &found);

	if (found == NULL) {
		snprintf(err, errlen, "[daemon] user %s: %s", user,
		    rc != 0 ? strerror(rc) : "no such account (useradd --system it first)");
		return -1;
	}
	return 0;
}

/*
 * An account to switch to: not root, and not of root's group, whose files
 * (gid 0, mode 0640 or 0660: /etc's, devices') the daemon could then read
 * or write. 0, or -1 saying why.
 */
int
privilege_check_account(const struct passwd *pw, char *err, size_t errlen)
{
	if (pw->pw_uid == 0) {
		snprintf(err, errlen, "[daemon] user %s is root: name an unprivileged account",
		    pw->pw_name);
		return -1;
	}
	if (pw->pw_gid == 0) {
		snprintf(err, errlen,
		    "[daemon] user %s has root's group (gid 0) as its primary group: give it a "
		    "group of its own (useradd --system --user-group)",
		    pw->pw_name);
		return -1;
	}
	return 0;
}

/* Become uid and gid (with user's groups), for good. */
static int
privilege_drop(const struct passwd *pw, char *err, size_t errlen)
{
	gid_t groups[256];
	int n;

	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		snprintf(err, errlen, "[daemon] user %s: cannot switch to it: %s", pw->pw_name,
		    strerror(errno));
		return -1;
	}
	/* Its other groups, as initgroups gave them. */
	n = getgroups((int)(sizeof(groups) / sizeof(groups[0])), groups);
	if (n < 0) {
		snprintf(err, errlen, "[daemon] user %s: cannot read its groups: %s", pw->pw_name,
		    strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		if (groups[i] == 0) {
			snprintf(err, errlen,
			    "[daemon] user %s is a member of root's group (gid 0): take it out "
			    "(gpasswd -d %s root)",
			    pw->pw_name, pw->pw_name);
			return -1;
		}
	}
	/* setuid as root sets the real, effective and saved ids: none of
	 * them may lead back. */
	if (setuid(0) == 0 || seteuid(0) == 0 || getuid() != pw->pw_uid ||
	    geteuid() != pw->pw_uid || getgid() != pw->pw_gid || getegid() != pw->pw_gid ||
	    setgid(0) == 0 || setegid(0) == 0) {
		snprintf(err, errlen, "[daemon] user %s: root could be regained after the switch; "
				      "refusing to run",
		    pw->pw_name);
		return -1;
	}
	return 0;
}

int
privilege_settle(const struct config *cfg, char *err, size_t errlen)
{
	struct passwd pw;
	char buf[4096];
	bool root = getuid() == 0 || geteuid() == 0;

	if (cfg->daemon_user[0] != '\0') {
		if (privilege_lookup(cfg->daemon_user, &pw, buf, sizeof(buf), err, errlen) < 0 ||
		    privilege_check_account(&pw, err, errlen) < 0)
			return -1;
		if (!root) {
			if (geteuid() == pw.pw_uid)
				return 0; /* started as that account already (systemd User=) */
			snprintf(err, errlen,
			    "[daemon] user is %s (uid %u) but commissiond runs as uid %u, which "
			    "cannot switch: start it as %s, or as root",
			    cfg->daemon_user, (unsigned)pw.pw_uid, (unsigned)geteuid(),
			    cfg->daemon_user);
			return -1;
		}
		if (privilege_drop(&pw, err, errlen) < 0)
			return -1;
		log_info("running as %s (uid %u, gid %u); started as root", pw.pw_name,
		    (unsigned)pw.pw_uid, (unsigned)pw.pw_gid);
		return 0;
	}
	if (!root)
		return 0;
	if (cfg->daemon_allow_root) {
		log_warning("running as root ([daemon] allow_root = yes): for development only; "
			    "set [daemon] user in production (docs/SECURITY.md)");
		return 0;
	}
	snprintf(err, errlen,
	    "refusing to run as root: set [daemon] user = ACCOUNT (e.g. commissiond) to "
	    "switch to that account after start-up, or run it as that account (the systemd "
	    "unit does); [daemon] allow_root = yes is for development only");
	return -1;
}
