package admin

import (
	"testing"
	"time"
)

func TestTOTPVector(t *testing.T) {
	// RFC 6238 appendix B, SHA-1, 8 digits "94287082" at T=59: the last
	// six digits are the 6-digit code.
	secret := totpEncoding.EncodeToString([]byte("12345678901234567890"))
	code, err := TOTPCode(secret, time.Unix(59, 0))
	if err != nil || code != "287082" {
		t.Fatalf("code = %q, %v; want 287082", code, err)
	}
	if !checkTOTP(secret, "287 082", time.Unix(59+30, 0)) || checkTOTP(secret, "287082", time.Unix(59+90, 0)) || checkTOTP(secret, "", time.Unix(59, 0)) {
		t.Fatal("window or format handling wrong")
	}
}
