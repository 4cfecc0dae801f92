// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";

import {AgreementFactoryHarness} from "../utils/AgreementFactoryHarness.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - unsafe-typecast: test inputs are derived from random words by narrowing on purpose.
// forge-lint: disable-start(unsafe-typecast)
/// @notice Random role changes at the factory: grants, revocations and renunciations of the agreement roles and of
///         others (the admin role, a custom role), by the admin or by whoever administers the role after random role
///         admin changes, interleaved with signer-delay changes and time passing.
contract RoleHandler is Test {
    AgreementFactoryHarness public immutable factory;
    address public immutable admin;
    address[5] public accounts;
    bytes32[6] public roles;
    uint256 public changes; // successful grants, revocations and renunciations

    constructor(AgreementFactoryHarness factory_, address admin_) {
        factory = factory_;
        admin = admin_;
        accounts = [makeAddr("r1"), makeAddr("r2"), makeAddr("r3"), makeAddr("r4"), admin_];
        roles = [
            factory_.OPERATOR_ROLE(),
            factory_.ORACLE_ROLE(),
            factory_.GATEWAY_ROLE(),
            bytes32(0), // DEFAULT_ADMIN_ROLE
            keccak256("KEEPER_ADMIN"),
            keccak256("UNRELATED")
        ];
    }

    function accountCount() external pure returns (uint256) {
        return 5;
    }

    /// @dev Whoever may grant `role` now: the admin, or an account holding the role's admin role.
    function _granter(bytes32 role, uint256 seed) internal view returns (address) {
        bytes32 adminRole = factory.getRoleAdmin(role);
        for (uint256 i; i < 5; ++i) {
            address a = accounts[(seed + i) % 5];
            if (factory.hasRole(adminRole, a)) return a;
        }
        return admin;
    }

    function grant(uint256 roleSeed, uint256 accountSeed, uint256 granterSeed) external {
        bytes32 role = roles[roleSeed % 6];
        vm.prank(_granter(role, granterSeed));
        try factory.grantRole(role, accounts[accountSeed % 5]) {
            ++changes;
        } catch {}
    }

    function revoke(uint256 roleSeed, uint256 accountSeed, uint256 granterSeed) external {
        bytes32 role = roles[roleSeed % 6];
        // Never lock the admin out entirely (the run could do nothing more).
        if (role == bytes32(0) && accounts[accountSeed % 5] == admin) return;
        vm.prank(_granter(role, granterSeed));
        try factory.revokeRole(role, accounts[accountSeed % 5]) {
            ++changes;
        } catch {}
    }

    function renounce(uint256 roleSeed, uint256 accountSeed) external {
        bytes32 role = roles[roleSeed % 6];
        address account = accounts[accountSeed % 5];
        if (role == bytes32(0) && account == admin) return;
        vm.prank(account);
        try factory.renounceRole(role, account) {
            ++changes;
        } catch {}
    }

    function setRoleAdmin(uint256 roleSeed, uint256 adminSeed) external {
        factory.setRoleAdmin(roles[roleSeed % 3], roles[3 + adminSeed % 2]);
    }

    function setSignerDelay(uint32 delay) external {
        vm.prank(admin);
        factory.setSignerDelay(uint32(bound(delay, 0, 30 days)));
    }

    function warp(uint256 secondsAhead) external {
        vm.warp(block.timestamp + bound(secondsAhead, 0, 3 days));
    }
}
// forge-lint: disable-end(unsafe-typecast)
