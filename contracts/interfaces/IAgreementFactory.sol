// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Terms} from "../types/BillingTypes.sol";
import {ITermsErrors} from "./ITermsErrors.sol";

/// @title IAgreementFactory
/// @notice Deploys billing agreements as EIP-1167 clones (terms carried as immutable clone arguments), holds the
///         roles every agreement obeys, and answers whether an address is one of its agreements.
/// @dev Roles (OpenZeppelin AccessControl): DEFAULT_ADMIN_ROLE manages roles, the token allow-list and the
///      signer delay; OPERATOR_ROLE creates agreements and may pause, resume, cancel and propose amendments;
///      ORACLE_ROLE reports usage (effective only `signerDelay` after the grant, removal is immediate);
///      GATEWAY_ROLE confirms fiat payments and returns and sets service status. This contract's AccessControl is
///      the source of truth; every grant, revocation or renunciation of OPERATOR_ROLE, ORACLE_ROLE or
///      GATEWAY_ROLE is mirrored, in the same transaction, into the implementation's storage
///      (`IBillingAgreement.mirroredRoles`), which agreements read because their own DELEGATECALL has already
///      warmed the implementation's address.
///      Listing agreements per party is done from the indexed `AgreementCreated` event, not from storage.
interface IAgreementFactory is IAccessControl, ITermsErrors {
    /// @notice A new agreement was deployed.
    /// @param agreement The clone's address.
    /// @param payer Party that pays.
    /// @param payee Party that is paid.
    /// @param termsHash keccak256 of `terms`, the value both parties accept.
    /// @param salt Operator-chosen salt (e.g. the hash of an ERP contract number); with the terms it fixes the address.
    /// @param terms The packed terms (layout in docs/terms-encoding.md), so every version is readable from events.
    event AgreementCreated(
        address indexed agreement,
        address indexed payer,
        address indexed payee,
        bytes32 termsHash,
        bytes32 salt,
        bytes terms
    );

    /// @notice An ERC-20 token was added to or removed from the allow-list.
    event TokenAllowed(address indexed token, bool allowed);

    /// @notice An oracle signer was granted; it may report from `activeFrom` on.
    event OracleSignerScheduled(address indexed signer, uint40 activeFrom);

    /// @notice The delay before newly granted oracle signers become active changed.
    event SignerDelayChanged(uint32 previousDelay, uint32 newDelay);

    /// @notice Payer or payee is the zero address, or both are the same.
    error AgreementFactory_InvalidParties(address payer, address payee);
    /// @notice The terms name an ERC-20 token that is not allow-listed.
    error AgreementFactory_TokenNotAllowed(address token);
    /// @notice The token's `decimals()` differs from the terms' `minorDigits` (or cannot be read).
    error AgreementFactory_TokenDecimalsMismatch(address token, uint8 declared, uint8 actual);
    /// @notice The zero address was given where an account or contract is required.
    error AgreementFactory_ZeroAddress();
    /// @notice The signer delay is above the maximum.
    error AgreementFactory_SignerDelayTooLong(uint32 delay, uint32 maxDelay);
    /// @notice `computeAmount` got `given` usage figures for terms with `meters` meters.
    error AgreementFactory_UsageLengthMismatch(uint256 given, uint256 meters);

    /// @notice Role that creates agreements and may pause, resume, cancel and propose amendments.
    function OPERATOR_ROLE() external view returns (bytes32);

    /// @notice Role whose active members report usage.
    function ORACLE_ROLE() external view returns (bytes32);

    /// @notice Role that confirms fiat payments and returns and sets service status (the gateway and its keeper).
    function GATEWAY_ROLE() external view returns (bytes32);

    /// @notice Deploys a new agreement in state Proposed. Operator only.
    /// @dev Reverts with a `Terms_*` error naming the first invalid field. The address is deterministic: see
    ///      `predictAgreementAddress`, so parties can sign their acceptance before the agreement exists.
    /// @param payer Party that pays.
    /// @param payee Party that is paid.
    /// @param terms The terms both parties will accept.
    /// @param salt Operator-chosen salt.
    /// @return agreement The new agreement's address.
    function createAgreement(address payer, address payee, Terms calldata terms, bytes32 salt)
        external
        returns (address agreement);

    /// @notice The address `createAgreement` would deploy to with these arguments.
    function predictAgreementAddress(address payer, address payee, Terms calldata terms, bytes32 salt)
        external
        view
        returns (address);

    /// @notice Whether `account` is an agreement this factory deployed.
    function isAgreement(address account) external view returns (bool);

    /// @notice The BillingAgreement implementation every clone delegates to.
    function implementation() external view returns (address);

    /// @notice Adds or removes an ERC-20 token from the allow-list. Admin only.
    function setTokenAllowed(address token, bool allowed) external;

    /// @notice Whether agreements may be created in `token`.
    function isTokenAllowed(address token) external view returns (bool);

    /// @notice Sets the delay before newly granted oracle signers become active. Admin only.
    function setSignerDelay(uint32 delay) external;

    /// @notice Delay in seconds before a newly granted oracle signer becomes active.
    function signerDelay() external view returns (uint32);

    /// @notice Whether `account` holds ORACLE_ROLE and its activation delay has passed.
    function isOracle(address account) external view returns (bool);

    /// @notice When `account` becomes (or became) an active oracle signer; 0 if it holds no ORACLE_ROLE.
    /// @dev Also identifies the grant: a signer's relayed usage reports name it (`signerSince`), so reports signed
    ///      under an earlier grant of the same key stay invalid after a revocation and a new grant. A new grant
    ///      always gets a later time than any earlier grant of the account.
    function oracleActiveFrom(address account) external view returns (uint40);

    /// @notice Validates `terms` and returns their packed form (the clone arguments) and its hash.
    /// @dev Reverts with the same `Terms_*` errors as `createAgreement`.
    function encodeTerms(Terms calldata terms) external view returns (bytes memory packed, bytes32 termsHash);

    /// @notice `encodeTerms` for an amendment of an agreement paid in `currentToken`: that token passes even if it
    ///         has been removed from the allow-list since (an agreement keeps its token for life; delisting stops
    ///         new agreements in it, not amendments of existing ones). Any other token must be allow-listed.
    /// @dev The token comes first so an agreement can forward its own `proposeAmendment(Terms)` argument unchanged.
    function encodeAmendmentTerms(address currentToken, Terms calldata terms)
        external
        view
        returns (bytes memory packed, bytes32 termsHash);

    /// @notice The amount, in minor units, that `terms` charge for one period with `usage` (one entry per meter):
    ///         what `settle` bills, VAT included.
    /// @dev The same code `settle` runs; exposed for parties, tooling and differential tests.
    function computeAmount(Terms calldata terms, uint64[] calldata usage) external pure returns (uint256 amount);

    /// @notice `computeAmount` split up: the net amount (after included units, tiers, minimum and cap), the VAT on
    ///         it and their sum, the settlement amount (`gross` = `computeAmount`), all in minor units.
    function computeCharge(Terms calldata terms, uint64[] calldata usage)
        external
        pure
        returns (uint256 net, uint256 vat, uint256 gross);
}
