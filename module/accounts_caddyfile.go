package module

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/gatehouse-auth/gatehouse/pool"
)

// The account options of a pool block:
//
//	password {
//		min_length <n>
//		max_length <n>
//		require lowercase|uppercase|digit|symbol...
//		allow_common          # do not refuse the most common passwords
//		allow_email           # do not refuse passwords containing the email
//	}
//	signup open|invite|off
//	attribute <name> [required] [immutable] [type string|number|boolean]
//		[min_length <n>] [max_length <n>] [min <n>] [max <n>]
//	verification {
//		code_ttl <duration>
//		reset_code_ttl <duration>
//		max_attempts <n>
//		resend_cooldown <duration>
//		sign_in_unverified
//	}
//	temporary_password_ttl <duration>
//	account_deletion on|off
//	sign_in_with email|username|phone...  # default email (see pool/aliases.go)
//	reauth_window <duration>
//	reauth_clock <name>   # tests only: a clock registered with RegisterClock
//	mail smtp://user:pass@host:587 | smtps://... | outbox <folder> {
//		from <address>
//		timeout <duration>
//		link_base <origin>
//		templates <folder>
//	}

func parsePasswordBlock(d *caddyfile.Dispenser, cfg *PoolConfig) error {
	for n := d.Nesting(); d.NextBlock(n); {
		opt := d.Val()
		switch opt {
		case "min_length", "max_length":
			var v int
			if err := intArg(d, &v); err != nil {
				return err
			}
			if opt == "min_length" {
				cfg.Password.MinLength = v
			} else {
				cfg.Password.MaxLength = v
			}
		case "require":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.Err("require: name one or more of lowercase, uppercase, digit, symbol")
			}
			for _, a := range args {
				switch a {
				case "lowercase":
					cfg.Password.RequireLowercase = true
				case "uppercase":
					cfg.Password.RequireUppercase = true
				case "digit":
					cfg.Password.RequireDigit = true
				case "symbol":
					cfg.Password.RequireSymbol = true
				default:
					return d.Errf("require %q: want lowercase, uppercase, digit or symbol", a)
				}
			}
		case "allow_common", "allow_email":
			if d.NextArg() {
				return d.ArgErr()
			}
			if opt == "allow_common" {
				cfg.Password.AllowCommon = true
			} else {
				cfg.Password.AllowEmail = true
			}
		default:
			return d.Errf("unrecognized password option %q (want min_length, max_length, require, allow_common or allow_email)", opt)
		}
	}
	if err := cfg.Password.Validate(); err != nil {
		return d.Errf("password: %v", err)
	}
	return nil
}

func parseAttribute(d *caddyfile.Dispenser, cfg *PoolConfig) error {
	if !d.NextArg() {
		return d.Err("attribute: want `attribute <name> [required] [immutable] [type ...] [min_length n] [max_length n] [min n] [max n]`")
	}
	a := pool.AttributeSpec{Name: d.Val()}
	for d.NextArg() {
		switch opt := d.Val(); opt {
		case "required":
			a.Required = true
		case "immutable":
			a.Immutable = true
		case "type":
			if !d.NextArg() {
				return d.Errf("attribute %s: type needs a value (string, number or boolean)", a.Name)
			}
			a.Type = d.Val()
		case "min_length", "max_length":
			if !d.NextArg() {
				return d.Errf("attribute %s: %s needs a value", a.Name, opt)
			}
			v, err := strconv.Atoi(d.Val())
			if err != nil || v < 0 {
				return d.Errf("attribute %s: %s %q: want a whole number", a.Name, opt, d.Val())
			}
			if opt == "min_length" {
				a.MinLength = v
			} else {
				a.MaxLength = v
			}
		case "min", "max":
			if !d.NextArg() {
				return d.Errf("attribute %s: %s needs a value", a.Name, opt)
			}
			v, err := strconv.ParseInt(d.Val(), 10, 64)
			if err != nil {
				return d.Errf("attribute %s: %s %q: want a whole number", a.Name, opt, d.Val())
			}
			if opt == "min" {
				a.Min = &v
			} else {
				a.Max = &v
			}
		default:
			return d.Errf("attribute %s: unknown option %q (want required, immutable, type, min_length, max_length, min or max)", a.Name, opt)
		}
	}
	if err := a.Validate(); err != nil {
		return d.Errf("%v", err)
	}
	for _, o := range cfg.Attributes {
		if o.Name == a.Name {
			return d.Errf("attribute %s is listed twice", a.Name)
		}
	}
	cfg.Attributes = append(cfg.Attributes, a)
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	opt := d.Val()
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur <= 0 {
		return d.Errf("%s %q: want a positive duration such as 24h or 7d", opt, s)
	}
	*dst = caddy.Duration(dur)
	return nil
}

func parseVerification(d *caddyfile.Dispenser, cfg *PoolConfig) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	v := &cfg.Verification
	for n := d.Nesting(); d.NextBlock(n); {
		switch opt := d.Val(); opt {
		case "code_ttl":
			if err := durationArg(d, &v.CodeTTL); err != nil {
				return err
			}
		case "reset_code_ttl":
			if err := durationArg(d, &v.ResetCodeTTL); err != nil {
				return err
			}
		case "resend_cooldown":
			if err := durationArg(d, &v.ResendCooldown); err != nil {
				return err
			}
		case "max_attempts":
			if err := intArg(d, &v.MaxAttempts); err != nil {
				return err
			}
			if v.MaxAttempts < 1 || v.MaxAttempts > 100 {
				return d.Errf("max_attempts %d: want 1 to 100", v.MaxAttempts)
			}
		case "sign_in_unverified":
			if d.NextArg() {
				return d.ArgErr()
			}
			v.SignInUnverified = true
		default:
			return d.Errf("unrecognized verification option %q (want code_ttl, reset_code_ttl, max_attempts, resend_cooldown or sign_in_unverified)", opt)
		}
	}
	return nil
}

func parseMail(d *caddyfile.Dispenser, cfg *PoolConfig) error {
	args := d.RemainingArgs()
	m := &MailConfig{}
	switch {
	case len(args) == 2 && args[0] == "outbox":
		m.Outbox = args[1]
	case len(args) == 1 && args[0] != "outbox":
		m.SMTP = args[0]
	default:
		return d.Err("mail: want `mail smtp://user:pass@host:587 { from ... }` or `mail outbox <folder>`")
	}
	for n := d.Nesting(); d.NextBlock(n); {
		switch opt := d.Val(); opt {
		case "from":
			if err := oneArg(d, &m.From); err != nil {
				return err
			}
		case "timeout":
			if err := durationArg(d, &m.Timeout); err != nil {
				return err
			}
		case "link_base":
			if err := oneArg(d, &m.LinkBase); err != nil {
				return err
			}
		case "templates":
			if err := oneArg(d, &m.Templates); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized mail option %q (want from, timeout, link_base or templates)", opt)
		}
	}
	cfg.Mail = m
	return nil
}

func parseAccountOption(d *caddyfile.Dispenser, cfg *PoolConfig) (bool, error) {
	switch d.Val() {
	case "signup":
		if err := oneArg(d, &cfg.SignUp); err != nil {
			return true, err
		}
		switch cfg.SignUp {
		case pool.SignUpOpen, pool.SignUpInvite, pool.SignUpOff:
		default:
			return true, d.Errf("signup %q: want open, invite or off", cfg.SignUp)
		}
	case "attribute":
		return true, parseAttribute(d, cfg)
	case "verification":
		return true, parseVerification(d, cfg)
	case "temporary_password_ttl":
		return true, durationArg(d, &cfg.TemporaryPasswordTTL)
	case "account_deletion":
		var s string
		if err := oneArg(d, &s); err != nil {
			return true, err
		}
		switch s {
		case "on":
			cfg.AccountDeletion = true
		case "off":
			cfg.AccountDeletion = false
		default:
			return true, d.Errf("account_deletion %q: want on or off", s)
		}
	case "sign_in_with":
		args := d.RemainingArgs()
		if len(args) == 0 {
			return true, d.Err("sign_in_with: name one or more of email, username, phone")
		}
		if err := pool.ValidateSignInWith(args); err != nil {
			return true, d.Err(err.Error())
		}
		cfg.SignInWith = args
	case "reauth_window":
		return true, durationArg(d, &cfg.ReauthWindow)
	case "reauth_clock":
		return true, oneArg(d, &cfg.ReauthClock)
	case "mail":
		return true, parseMail(d, cfg)
	case "srp":
		var s string
		if err := oneArg(d, &s); err != nil {
			return true, err
		}
		switch s {
		case "on", "off":
			cfg.SRP = s == "on"
		default:
			return true, d.Errf("srp %q: want on or off", s)
		}
	default:
		return false, nil
	}
	return true, nil
}
