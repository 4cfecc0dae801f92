// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {StdInvariant} from "forge-std/StdInvariant.sol";
import {Test} from "forge-std/Test.sol";

import {AgreementFactoryHarness} from "../utils/AgreementFactoryHarness.sol";
import {BillingAgreement} from "../../../contracts/BillingAgreement.sol";
import {RoleHandler} from "./RoleHandler.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - block-timestamp: the oracle check compares against block time on purpose.
// forge-lint: disable-start(block-timestamp)
/// @notice The implementation's role mirror never drifts from the factory (tests/contracts/INVARIANTS.md) over
///         random role changes (see RoleHandler).
contract RoleMirrorInvariantsTest is StdInvariant, Test {
    AgreementFactoryHarness internal factory;
    BillingAgreement internal impl;
    RoleHandler internal handler;

    function setUp() public {
        address admin = makeAddr("admin");
        factory = new AgreementFactoryHarness(admin);
        impl = BillingAgreement(factory.implementation());
        handler = new RoleHandler(factory, admin);
        targetContract(address(handler));
    }

    /// @dev For every account: the implementation's answer (typed and raw) equals the factory's.
    function invariant_MirrorEqualsFactory() public view {
        for (uint256 i; i < handler.accountCount(); ++i) {
            address account = handler.accounts(i);
            (bool op, bool gw, uint40 from) = impl.mirroredRoles(account);
            assertEq(op, factory.hasRole(factory.OPERATOR_ROLE(), account), "operator");
            assertEq(gw, factory.hasRole(factory.GATEWAY_ROLE(), account), "gateway");
            assertEq(from, factory.oracleActiveFrom(account), "oracle schedule");
            // What an agreement concludes from the mirror is what the factory says.
            assertEq(from != 0 && from <= block.timestamp, factory.isOracle(account), "active oracle");
            (bool ok, bytes memory raw) = address(impl).staticcall(abi.encode(account));
            assertTrue(ok);
            uint256 word = abi.decode(raw, (uint256));
            assertEq(word, (op ? 1 : 0) | (gw ? 2 : 0) | (uint256(from) << 8), "raw word");
        }
    }

    function afterInvariant() public view {
        assertGt(handler.changes(), 0);
    }
}
// forge-lint: disable-end(block-timestamp)
