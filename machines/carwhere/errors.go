package carwhere

import "errors"

var (
	// ErrNotCAR is returned for a CID whose codec is not CAR (0x0202).
	ErrNotCAR = errors.New("carwhere: not a CAR CID")
	// ErrSizeConflict is returned by Record when the CAR is already located with another
	// size: a CID fixes its bytes, so two sizes mean one of them is wrong.
	ErrSizeConflict = errors.New("carwhere: size differs from the located size")
	// ErrInvalidState is returned for a stored state that is not a located{size,
	// locations} (corrupt data, or an entry of another collection).
	ErrInvalidState = errors.New("carwhere: invalid located state")
	// ErrInvalidLocation is returned for a Location without backend or key, or with
	// empty URIs.
	ErrInvalidLocation = errors.New("carwhere: invalid location")
)

// ErrInvalidClaim is returned by VerifyClaim for a token that is not a valid location
// claim of the service.
var ErrInvalidClaim = errors.New("carwhere: invalid location claim")
