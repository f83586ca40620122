package module

import (
	"fmt"
	"os"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/gatehouse-auth/gatehouse/brand"
)

// openBranding reads and checks the pool's branding, its clients' and its
// page templates' folder, once, when Caddy provisions: a missing file, an
// image that is none, a bad colour or link stops the start with its name.
func (p *Pool) openBranding(ctx caddy.Context) error {
	cfg := p.Config
	repl := caddy.NewReplacer()
	paths := func(c brand.Config) brand.Config {
		c.Logo = repl.ReplaceKnown(c.Logo, "")
		c.Favicon = repl.ReplaceKnown(c.Favicon, "")
		c.Stylesheet = repl.ReplaceKnown(c.Stylesheet, "")
		return c
	}
	var poolCfg brand.Config
	if cfg.Branding != nil {
		poolCfg = paths(*cfg.Branding)
		b, err := brand.Load(poolCfg)
		if err != nil {
			return fmt.Errorf("branding: %w", err)
		}
		p.Brand = b
	}
	for _, c := range cfg.Clients {
		if c.Branding == nil || c.Branding.IsZero() {
			continue
		}
		b, err := brand.Load(paths(*c.Branding).Over(poolCfg))
		if err != nil {
			return fmt.Errorf("client %s: branding: %w", c.ID, err)
		}
		if p.ClientBrands == nil {
			p.ClientBrands = map[string]*brand.Brand{}
		}
		p.ClientBrands[c.ID] = b
	}
	if cfg.TemplatesDir != "" {
		dir := repl.ReplaceKnown(cfg.TemplatesDir, "")
		st, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("templates_dir: %w", err)
		}
		if !st.IsDir() {
			return fmt.Errorf("templates_dir: %s is not a folder", dir)
		}
		p.PageTemplates = os.DirFS(dir)
	}
	return nil
}

// parseBranding reads a `branding { }` block, of a pool or of a client:
//
//	branding {
//		logo <file>                     # SVG, PNG, WebP or ICO, at most 512 KiB
//		favicon <file>                  # the same
//		stylesheet <file>               # CSS loaded after Gatehouse's own, at most 256 KiB
//		color light|dark <role> <hex>   # "#0a5" quoted, or 0a5; roles: accent accent_hover on_accent background surface text muted border
//		link terms|privacy|support <label> <https URL or /path>
//	}
//
// Colours and links are checked here; files when Caddy provisions.
func parseBranding(d *caddyfile.Dispenser, dst **brand.Config) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	c := *dst
	if c == nil {
		c = &brand.Config{}
	}
	for n := d.Nesting(); d.NextBlock(n); {
		switch opt := d.Val(); opt {
		case "logo", "favicon", "stylesheet":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			switch opt {
			case "logo":
				c.Logo = v
			case "favicon":
				c.Favicon = v
			default:
				c.Stylesheet = v
			}
		case "color", "colour":
			args := d.RemainingArgs()
			if len(args) != 3 || (args[0] != "light" && args[0] != "dark") {
				return d.Err("branding: want `color light|dark <role> <#hex>`")
			}
			// "#" starts a Caddyfile comment: a colour is quoted
			// ("#0a5") or written without it (0a5).
			if !strings.HasPrefix(args[2], "#") {
				args[2] = "#" + args[2]
			}
			if err := brand.CheckColor(args[1], args[2]); err != nil {
				return d.Errf("branding: %v", err)
			}
			m := &c.Light
			if args[0] == "dark" {
				m = &c.Dark
			}
			if *m == nil {
				*m = map[string]string{}
			}
			(*m)[args[1]] = args[2]
		case "link":
			args := d.RemainingArgs()
			if len(args) != 3 {
				return d.Err("branding: want `link terms|privacy|support <label> <url>`")
			}
			l := brand.Link{Kind: args[0], Label: args[1], URL: args[2]}
			if err := brand.CheckLink(l); err != nil {
				return d.Errf("branding: %v", err)
			}
			for _, o := range c.Links {
				if o.Kind == l.Kind {
					return d.Errf("branding: link %s given twice", l.Kind)
				}
			}
			c.Links = append(c.Links, l)
		default:
			return d.Errf("branding: unrecognized option %q (want logo, favicon, stylesheet, color or link)", opt)
		}
	}
	*dst = c
	return nil
}
