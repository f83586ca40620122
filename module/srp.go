package module

import (
	"errors"

	"github.com/gatehouse-auth/gatehouse/cognito/srp"
	"github.com/gatehouse-auth/gatehouse/pool"
)

// `srp on` (pool option, default off) turns on Cognito's USER_SRP_AUTH:
// the pool keeps an SRP verifier per user, sealed, made whenever a
// password is set or used (pool/srp.go). The verifier hashes the part of
// the pool's Cognito pool id after the "_", so SRP needs the pool's
// cognito block.

// cognitoPoolID is the pool's Cognito pool id (its cognito block's
// pool_id), "" without one.
func cognitoPoolID(c *PoolConfig) string {
	if c.Cognito != nil {
		return c.Cognito.PoolID
	}
	return ""
}

func validateSRP(c *PoolConfig) error {
	if c.SRP && cognitoPoolID(c) == "" {
		return errors.New("srp on: the pool needs its cognito block (pool_id), whose id SRP's verifiers are made with")
	}
	return nil
}

// srpConfig is the pool's pool.SRPConfig.
func srpConfig(c *PoolConfig) pool.SRPConfig {
	if !c.SRP {
		return pool.SRPConfig{}
	}
	return pool.SRPConfig{PoolName: srp.PoolName(cognitoPoolID(c))}
}
