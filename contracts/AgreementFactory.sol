// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {BillingAgreement} from "./BillingAgreement.sol";
import {IAgreementFactory} from "./interfaces/IAgreementFactory.sol";
import {IBillingAgreement} from "./interfaces/IBillingAgreement.sol";
import {Pricing} from "./libraries/Pricing.sol";
import {TermsCodec} from "./libraries/TermsCodec.sol";
import {Terms} from "./types/BillingTypes.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - block-timestamp: periods, grace windows, due dates, notice and dispute windows are defined in block time; a
//   block proposer can only move a boundary crossing by the few seconds block timestamps may drift.
// forge-lint: disable-start(block-timestamp)
/// @title AgreementFactory
/// @notice Deploys billing agreements as EIP-1167 clones with the parties and packed terms as immutable arguments,
///         holds the roles the agreements obey (mirrored into the implementation, see `_mirror`) and the token
///         allow-list (see IAgreementFactory).
/// @dev No registry of agreements is stored: a mapping entry would add 22,100 gas to every `createAgreement`,
///      beyond its gas budget. `isAgreement` instead checks that the account's code is an EIP-1167 clone of this
///      factory's implementation and that the clone was initialized by this factory (only this factory can call
///      `initialize`, and it does so only on clones it has just deployed). Listing agreements is done from the
///      `AgreementCreated` events.
contract AgreementFactory is IAgreementFactory, AccessControl {
    /// @inheritdoc IAgreementFactory
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    /// @inheritdoc IAgreementFactory
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");
    /// @inheritdoc IAgreementFactory
    bytes32 public constant GATEWAY_ROLE = keccak256("GATEWAY_ROLE");
    /// @notice Longest signer delay the admin may set.
    uint32 public constant MAX_SIGNER_DELAY = 30 days;

    /// @dev Size of the EIP-1167 proxy code in front of the clone arguments.
    uint256 private constant PROXY_CODE_LENGTH = 0x2d;
    /// @dev Smallest clone: proxy, parties (40) and a header with one Flat meter (83 + 21).
    uint256 private constant MIN_CLONE_LENGTH = PROXY_CODE_LENGTH + 40 + 83 + 21;

    address private immutable _implementation;
    /// @dev keccak256 of the 45-byte EIP-1167 proxy code pointing at `_implementation`.
    bytes32 private immutable _proxyCodeHash;

    uint32 private _signerDelay;
    mapping(address token => bool) private _allowedTokens;
    /// @dev Non-zero exactly while the account holds ORACLE_ROLE, so `isOracle` is a single storage read.
    mapping(address account => uint40) private _oracleActiveFrom;
    /// @dev The activation time of the account's latest ORACLE_ROLE grant, kept after a revocation so that a new
    ///      grant gets a later one (reports name their signer's grant by it, see `oracleActiveFrom`).
    mapping(address account => uint40) private _lastOracleGrant;

    /// @param admin Holder of DEFAULT_ADMIN_ROLE (grants the other roles). The signer delay starts at 0.
    constructor(address admin) {
        if (admin == address(0)) revert AgreementFactory_ZeroAddress();
        // AccessControl's own `_grantRole`: the admin role is not mirrored (the implementation does not exist yet).
        super._grantRole(DEFAULT_ADMIN_ROLE, admin);
        address impl = address(new BillingAgreement());
        _implementation = impl;
        _proxyCodeHash =
            keccak256(abi.encodePacked(hex"363d3d373d3d3d363d73", impl, hex"5af43d82803e903d91602b57fd5bf3"));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Agreements
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IAgreementFactory
    /// @dev The CREATE2 salt is `salt` itself: the init code contains parties and packed terms, so the address
    ///      commits to them as well.
    function createAgreement(address payer, address payee, Terms calldata terms, bytes32 salt)
        external
        onlyRole(OPERATOR_ROLE)
        returns (address agreement)
    {
        (bytes memory packed, bytes memory args) = _prepare(payer, payee, terms);
        agreement = Clones.cloneDeterministicWithImmutableArgs(_implementation, args, salt);
        IBillingAgreement(agreement).initialize();
        emit AgreementCreated(agreement, payer, payee, keccak256(packed), salt, packed);
    }

    /// @inheritdoc IAgreementFactory
    function predictAgreementAddress(address payer, address payee, Terms calldata terms, bytes32 salt)
        external
        view
        returns (address)
    {
        (, bytes memory args) = _prepare(payer, payee, terms);
        return Clones.predictDeterministicAddressWithImmutableArgs(_implementation, args, salt);
    }

    /// @inheritdoc IAgreementFactory
    function isAgreement(address account) external view returns (bool) {
        if (account.code.length < MIN_CLONE_LENGTH) return false;
        bytes32 codeHash;
        assembly ("memory-safe") {
            // Scratch memory beyond the free memory pointer; nothing is allocated while it is used.
            let m := mload(0x40)
            extcodecopy(account, m, 0, PROXY_CODE_LENGTH)
            codeHash := keccak256(m, PROXY_CODE_LENGTH)
        }
        if (codeHash != _proxyCodeHash) return false;
        // The account runs this factory's implementation, whose `factory()` is non-zero only once this factory
        // initialized it.
        return IBillingAgreement(account).factory() == address(this);
    }

    /// @inheritdoc IAgreementFactory
    function implementation() external view returns (address) {
        return _implementation;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Tokens and oracle signers
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IAgreementFactory
    function setTokenAllowed(address token, bool allowed) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (token == address(0)) revert AgreementFactory_ZeroAddress();
        _allowedTokens[token] = allowed;
        emit TokenAllowed(token, allowed);
    }

    /// @inheritdoc IAgreementFactory
    function isTokenAllowed(address token) external view returns (bool) {
        return _allowedTokens[token];
    }

    /// @inheritdoc IAgreementFactory
    /// @dev Applies to grants made afterwards; signers already scheduled keep their activation time.
    function setSignerDelay(uint32 delay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (delay > MAX_SIGNER_DELAY) revert AgreementFactory_SignerDelayTooLong(delay, MAX_SIGNER_DELAY);
        uint32 previous = _signerDelay;
        _signerDelay = delay;
        emit SignerDelayChanged(previous, delay);
    }

    /// @inheritdoc IAgreementFactory
    function signerDelay() external view returns (uint32) {
        return _signerDelay;
    }

    /// @inheritdoc IAgreementFactory
    function isOracle(address account) external view returns (bool) {
        uint256 activeFrom = _oracleActiveFrom[account];
        return activeFrom != 0 && activeFrom <= block.timestamp;
    }

    /// @inheritdoc IAgreementFactory
    function oracleActiveFrom(address account) external view returns (uint40) {
        return _oracleActiveFrom[account];
    }

    // ------------------------------------------------------------------------------------------------------------
    // Terms
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IAgreementFactory
    /// @dev Also checks the token (allow-list, decimals) like `createAgreement`.
    function encodeTerms(Terms calldata terms) external view returns (bytes memory packed, bytes32 termsHash) {
        packed = _encode(terms, address(0));
        termsHash = keccak256(packed);
    }

    /// @inheritdoc IAgreementFactory
    function encodeAmendmentTerms(address currentToken, Terms calldata terms)
        external
        view
        returns (bytes memory packed, bytes32 termsHash)
    {
        packed = _encode(terms, currentToken);
        termsHash = keccak256(packed);
    }

    /// @inheritdoc IAgreementFactory
    /// @dev Reverts with `Terms_*` for invalid terms and `AgreementFactory_UsageLengthMismatch` unless there is one
    ///      usage figure per meter. Not limited to 96 bits (settlement reverts above that).
    function computeAmount(Terms calldata terms, uint64[] calldata usage) external pure returns (uint256 amount) {
        (,, amount) = _charge(terms, usage);
    }

    /// @inheritdoc IAgreementFactory
    /// @dev Reverts as `computeAmount`.
    function computeCharge(Terms calldata terms, uint64[] calldata usage)
        external
        pure
        returns (uint256 net, uint256 vat, uint256 gross)
    {
        return _charge(terms, usage);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Internal
    // ------------------------------------------------------------------------------------------------------------

    /// @dev Net, VAT and gross of one period: validates and packs `terms`, then runs the pricing `settle` runs.
    function _charge(Terms calldata terms, uint64[] calldata usage)
        private
        pure
        returns (uint256 net, uint256 vat, uint256 gross)
    {
        bytes memory packed = TermsCodec.encode(terms);
        uint256 t = TermsCodec.pointer(packed, 0);
        Pricing.requireBounded(t);
        if (usage.length != terms.meters.length) {
            revert AgreementFactory_UsageLengthMismatch(usage.length, terms.meters.length);
        }
        (uint256 usage0, uint256 usage1) = Pricing.usageWords(usage);
        net = Pricing.amount(t, usage0, usage1);
        vat = Pricing.vat(t, net);
        gross = net + vat;
    }

    /// @dev Checks the parties, validates and packs the terms; returns them and the clone arguments.
    function _prepare(address payer, address payee, Terms calldata terms)
        private
        view
        returns (bytes memory packed, bytes memory args)
    {
        if (payer == address(0) || payee == address(0) || payer == payee) {
            revert AgreementFactory_InvalidParties(payer, payee);
        }
        packed = _encode(terms, address(0));
        args = abi.encodePacked(payer, payee, packed);
    }

    /// @dev Validates (terms first, then that a period's amount fits a settlement, then the token) and packs.
    ///      `keptToken` (an amendment's current token, else address(0)) passes the allow-list.
    function _encode(Terms calldata terms, address keptToken) private view returns (bytes memory packed) {
        packed = TermsCodec.encode(terms);
        Pricing.requireBounded(TermsCodec.pointer(packed, 0));
        address token = terms.token;
        if (token != address(0)) {
            if (token != keptToken && !_allowedTokens[token]) revert AgreementFactory_TokenNotAllowed(token);
            (bool ok, uint8 decimals) = SafeERC20.tryGetDecimals(IERC20(token));
            if (!ok || decimals != terms.minorDigits) {
                revert AgreementFactory_TokenDecimalsMismatch(token, terms.minorDigits, decimals);
            }
        }
    }

    /// @dev Granting ORACLE_ROLE schedules the signer `signerDelay` from now. Every grant that changes an
    ///      agreement role is mirrored into the implementation.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (granted) {
            if (role == ORACLE_ROLE) {
                uint40 activeFrom = uint40(block.timestamp + _signerDelay);
                // A new grant is told apart from every earlier one by a later activation time.
                uint40 last = _lastOracleGrant[account];
                if (activeFrom <= last) activeFrom = last + 1;
                _lastOracleGrant[account] = activeFrom;
                _oracleActiveFrom[account] = activeFrom;
                emit OracleSignerScheduled(account, activeFrom);
            }
            _mirror(role, account);
        }
    }

    /// @dev Revoking (or renouncing) ORACLE_ROLE deactivates the signer at once. Every revocation that changes an
    ///      agreement role is mirrored into the implementation.
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked) {
            if (role == ORACLE_ROLE) delete _oracleActiveFrom[account];
            _mirror(role, account);
        }
    }

    /// @dev After a change of `role` for `account`: if it is one of the roles agreements check, writes all of
    ///      `account`'s agreement roles, read back from this contract's state (the source of truth), into the
    ///      implementation's mirror (see `IBillingAgreement.mirroredRoles`). Every membership change goes through
    ///      `_grantRole`/`_revokeRole` (grant, revoke, renounce), so the mirror cannot drift; role admins are not
    ///      mirrored (agreements never consult them).
    function _mirror(bytes32 role, address account) private {
        if (role == OPERATOR_ROLE || role == ORACLE_ROLE || role == GATEWAY_ROLE) {
            IBillingAgreement(_implementation)
                .setMirroredRoles(
                    account, hasRole(OPERATOR_ROLE, account), hasRole(GATEWAY_ROLE, account), _oracleActiveFrom[account]
                );
        }
    }
}
// forge-lint: disable-end(block-timestamp)
