// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Errors} from "@openzeppelin/contracts/utils/Errors.sol";

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IAgreementFactory} from "../../../../contracts/interfaces/IAgreementFactory.sol";
import {ITermsErrors} from "../../../../contracts/interfaces/ITermsErrors.sol";
import {MockToken} from "../../../../contracts/mocks/MockToken.sol";
import {AgreementState, Terms} from "../../../../contracts/types/BillingTypes.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - unsafe-typecast: test inputs are derived from random words by narrowing on purpose.
// forge-lint: disable-start(unsafe-typecast)
contract CreateAgreementTest is BaseTest {
    function test_CreatesProposedAgreementAtPredictedAddress() public {
        Terms memory t = _fiatTerms();
        bytes32 salt = keccak256("ERP-4711");
        address predicted = factory.predictAgreementAddress(payer, payee, t, salt);
        (bytes memory packed, bytes32 h) = factory.encodeTerms(t);

        vm.expectEmit(address(factory));
        emit IAgreementFactory.AgreementCreated(predicted, payer, payee, h, salt, packed);
        vm.prank(operator);
        address a = factory.createAgreement(payer, payee, t, salt);

        assertEq(a, predicted);
        assertTrue(factory.isAgreement(a));
        BillingAgreement agreement = BillingAgreement(a);
        assertEq(agreement.factory(), address(factory));
        (address p, address q) = agreement.parties();
        assertEq(p, payer);
        assertEq(q, payee);
        assertEq(uint8(agreement.state()), uint8(AgreementState.Proposed));
        (, bytes32 h1,) = agreement.termsAt(1);
        assertEq(h1, h);
    }

    function test_CreatesTokenAgreement() public {
        BillingAgreement a = _create(_tokenTerms());
        (Terms memory t,) = a.terms();
        assertEq(t.token, address(token));
    }

    function test_RevertWhen_CallerNotOperator() public {
        Terms memory t = _fiatTerms();
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, OPERATOR_ROLE)
        );
        factory.createAgreement(payer, payee, t, bytes32(0));
    }

    function test_RevertWhen_PayerIsZero() public {
        Terms memory t = _fiatTerms();
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IAgreementFactory.AgreementFactory_InvalidParties.selector, address(0), payee)
        );
        factory.createAgreement(address(0), payee, t, bytes32(0));
    }

    function test_RevertWhen_PayeeIsZero() public {
        Terms memory t = _fiatTerms();
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IAgreementFactory.AgreementFactory_InvalidParties.selector, payer, address(0))
        );
        factory.createAgreement(payer, address(0), t, bytes32(0));
    }

    function test_RevertWhen_PayerIsPayee() public {
        Terms memory t = _fiatTerms();
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IAgreementFactory.AgreementFactory_InvalidParties.selector, payer, payer)
        );
        factory.createAgreement(payer, payer, t, bytes32(0));
    }

    function test_RevertWhen_TermsInvalid() public {
        Terms memory t = _fiatTerms();
        t.currency = "eur";
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(ITermsErrors.Terms_InvalidCurrency.selector, bytes3("eur")));
        factory.createAgreement(payer, payee, t, bytes32(0));
    }

    function test_RevertWhen_TokenNotAllowed() public {
        MockToken other = new MockToken(2);
        Terms memory t = _fiatTerms();
        t.token = address(other);
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IAgreementFactory.AgreementFactory_TokenNotAllowed.selector, address(other))
        );
        factory.createAgreement(payer, payee, t, bytes32(0));
    }

    function test_RevertWhen_TokenDecimalsDiffer() public {
        Terms memory t = _tokenTerms();
        t.minorDigits = 6;
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAgreementFactory.AgreementFactory_TokenDecimalsMismatch.selector, address(token), uint8(6), uint8(2)
            )
        );
        factory.createAgreement(payer, payee, t, bytes32(0));
    }

    function test_RevertWhen_TokenHasNoDecimals() public {
        // An allow-listed address whose decimals() cannot be read.
        address noDecimals = address(factory);
        vm.prank(admin);
        factory.setTokenAllowed(noDecimals, true);
        Terms memory t = _fiatTerms();
        t.token = noDecimals;
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAgreementFactory.AgreementFactory_TokenDecimalsMismatch.selector, noDecimals, uint8(2), uint8(0)
            )
        );
        factory.createAgreement(payer, payee, t, bytes32(0));
    }

    /// @dev A PerUnit price of 2^96 − 1 per unit without a cap: up to (2^64 − 1)(2^96 − 1) per period.
    function _unbounded() internal pure returns (Terms memory t, uint256 most) {
        t = _fiatTerms();
        t.priceDecimals = 0;
        t.meters[0] = _perUnitMeter(type(uint96).max);
        most = uint256(type(uint64).max) * type(uint96).max;
    }

    function test_RevertWhen_CapRequired() public {
        (Terms memory t, uint256 most) = _unbounded();
        bytes memory err = abi.encodeWithSelector(ITermsErrors.Terms_CapRequired.selector, most);
        vm.prank(operator);
        vm.expectRevert(err);
        factory.createAgreement(payer, payee, t, bytes32(0));
        vm.expectRevert(err);
        factory.predictAgreementAddress(payer, payee, t, bytes32(0));
        vm.expectRevert(err);
        factory.encodeTerms(t);
        vm.expectRevert(err);
        factory.encodeAmendmentTerms(address(0), t);
    }

    function test_CapRequiredAfterTermsChecksBeforeTokenChecks() public {
        (Terms memory t, uint256 most) = _unbounded();
        t.token = address(new MockToken(6)); // neither allow-listed nor of the right decimals
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(ITermsErrors.Terms_CapRequired.selector, most));
        factory.createAgreement(payer, payee, t, bytes32(0));
        t.currency = "eur";
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(ITermsErrors.Terms_InvalidCurrency.selector, bytes3("eur")));
        factory.createAgreement(payer, payee, t, bytes32(0));
    }

    function test_CappedTermsAccepted() public {
        (Terms memory t,) = _unbounded();
        t.cap = type(uint96).max;
        BillingAgreement a = _create(t);
        (Terms memory back,) = a.terms();
        assertEq(back.cap, type(uint96).max);
    }

    function test_RevertWhen_SameAgreementTwice() public {
        Terms memory t = _fiatTerms();
        _create(t, bytes32(uint256(1)));
        vm.prank(operator);
        vm.expectRevert(Errors.FailedDeployment.selector);
        factory.createAgreement(payer, payee, t, bytes32(uint256(1)));
    }

    function test_SameTermsOtherSaltOtherAddress() public {
        Terms memory t = _fiatTerms();
        BillingAgreement a = _create(t, bytes32(uint256(1)));
        BillingAgreement b = _create(t, bytes32(uint256(2)));
        assertTrue(address(a) != address(b));
    }
}
// forge-lint: disable-end(unsafe-typecast)
