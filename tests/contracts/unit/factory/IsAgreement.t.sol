// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {AgreementFactory} from "../../../../contracts/AgreementFactory.sol";
import {Meter, Terms} from "../../../../contracts/types/BillingTypes.sol";

contract IsAgreementTest is BaseTest {
    function test_TrueForCreatedAgreement() public {
        assertTrue(factory.isAgreement(address(_create(_fiatTerms()))));
    }

    function test_TrueForSmallestAgreement() public {
        // One Flat meter: proxy (45), parties (40), header (83) and a 21-byte meter record.
        Terms memory t = _baseTerms();
        t.meters = new Meter[](1);
        t.meters[0] = _flatMeter(990_000);
        address a = address(_create(t));
        assertEq(a.code.length, 45 + 40 + 83 + 21);
        assertTrue(factory.isAgreement(a));
    }

    function test_FalseForAccountsWithoutCode() public view {
        assertFalse(factory.isAgreement(stranger));
        assertFalse(factory.isAgreement(address(0)));
    }

    function test_FalseForOtherContracts() public view {
        assertFalse(factory.isAgreement(address(token)));
        assertFalse(factory.isAgreement(address(factory)));
        assertFalse(factory.isAgreement(factory.implementation()));
    }

    function test_FalseForCloneNotDeployedByFactory() public {
        // Same implementation, same kind of arguments, but never initialized by the factory.
        (bytes memory packed,) = factory.encodeTerms(_fiatTerms());
        address foreign =
            Clones.cloneWithImmutableArgs(factory.implementation(), abi.encodePacked(payer, payee, packed));
        assertFalse(factory.isAgreement(foreign));
        assertEq(BillingAgreement(foreign).factory(), address(0));
        // It is inert: every state-changing call reverts.
        vm.prank(payer);
        vm.expectRevert(IBillingAgreement.BillingAgreement_NotInitialized.selector);
        BillingAgreement(foreign).accept(1, keccak256(packed));
        // And only the factory could initialize it.
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotFactory.selector, address(this)));
        BillingAgreement(foreign).initialize();
    }

    function test_FalseForAgreementOfAnotherFactory() public {
        AgreementFactory other = new AgreementFactory(admin);
        vm.prank(admin);
        other.grantRole(OPERATOR_ROLE, operator);
        vm.prank(operator);
        address a = other.createAgreement(payer, payee, _fiatTerms(), bytes32(0));
        assertTrue(other.isAgreement(a));
        assertFalse(factory.isAgreement(a));
    }
}
